"""Fixtures: the fastmcp + fastmcp-tasks server (tests/tasks/task_server.py) over stdio and HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.abc
import pytest
from mcp import StdioServerParameters

SERVER = Path(__file__).parent / "task_server.py"


def task_stdio(events_dir: Path) -> StdioServerParameters:
    """The task server as a stdio subprocess (it marks started/cancelled tasks in `events_dir`)."""
    return StdioServerParameters(
        command=sys.executable, args=[str(SERVER)], env={**os.environ, "TASK_EVENTS_DIR": str(events_dir)}
    )


@dataclass
class HttpTaskServer:
    url: str
    process: anyio.abc.Process
    events: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_listening(port: int, process: anyio.abc.Process) -> None:
    with anyio.fail_after(30):
        while True:
            if process.returncode is not None:
                raise RuntimeError("the task server exited before it listened")
            try:
                stream = await anyio.connect_tcp("127.0.0.1", port)
            except OSError:
                await anyio.sleep(0.1)  # another process binds it: nothing to await
                continue
            await stream.aclose()
            return


@pytest.fixture
async def http_task_server(tmp_path: Path) -> AsyncIterator[HttpTaskServer]:
    """The task server in another process over streamable HTTP."""
    async with start_http_task_server(tmp_path) as server:
        yield server


@asynccontextmanager
async def start_http_task_server(tmp_path: Path) -> AsyncIterator[HttpTaskServer]:
    port = _free_port()
    env = {**os.environ, "TASK_EVENTS_DIR": str(tmp_path)}
    command = [sys.executable, str(SERVER), "http", str(port)]
    async with await anyio.open_process(command, env=env, stderr=subprocess.DEVNULL) as process:
        try:
            await _wait_listening(port, process)
            yield HttpTaskServer(f"http://127.0.0.1:{port}/mcp", process, tmp_path)
        finally:
            if process.returncode is None:
                process.kill()
