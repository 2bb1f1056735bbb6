"""Stdio servers: a third-party server, crashes and restarts, cancellation reaching the process."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import anyio
import pytest
from mcp import StdioServerParameters

from mcp_voice.tools import ServerSpec, ToolEvent, ToolRegistry
from tests.tools.conftest import sample_stdio, wait_for_file

pytestmark = pytest.mark.anyio


async def server_pid(registry: ToolRegistry) -> int:
    result = await registry.call("sample__pid", {})
    assert not result.is_error, result.output
    return int(result.output)


async def test_mcp_server_time_over_stdio() -> None:
    command = Path(sys.executable).with_name("mcp-server-time")
    params = StdioServerParameters(command=str(command), args=["--local-timezone", "UTC"])
    async with ToolRegistry([ServerSpec("time", params)]) as registry:
        assert registry.errors == {}
        tool = registry.get("time__get_current_time")
        assert tool is not None and tool.read_only
        assert tool.parameters["required"] == ["timezone"]
        result = await registry.call("time__get_current_time", {"timezone": "Asia/Tokyo"})
        assert not result.is_error, result.output
        answer = json.loads(result.output)
        assert answer["timezone"] == "Asia/Tokyo" and answer["datetime"].endswith("+09:00")
        bad = await registry.call("time__get_current_time", {"timezone": "Mars/Olympus"})
        assert bad.is_error and "Mars/Olympus" in json.loads(bad.output)["error"]["message"]


async def test_kill_mid_call_fails_promptly_and_the_server_restarts(tmp_path: Path) -> None:
    events: list[ToolEvent] = []
    spec = ServerSpec("sample", sample_stdio(tmp_path))
    async with ToolRegistry([spec], on_event=events.append) as registry:
        first_pid = await server_pid(registry)
        results = []

        async def slow_call() -> None:
            results.append(await registry.call("sample__slow", {"seconds": 30}))

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(slow_call)
                await wait_for_file(tmp_path / "slow-started")
                os.kill(first_pid, signal.SIGKILL)
        error = json.loads(results[0].output)["error"]
        assert error["kind"] == "server_unavailable" and "sample" in error["message"]

        with anyio.fail_after(15):
            second_pid = await server_pid(registry)  # waits for the restart
        assert second_pid != first_pid
        assert [e.kind for e in events].count("server_restarted") == 1
        assert registry.errors == {}


async def test_a_server_killed_while_idle_is_restarted_without_a_call(tmp_path: Path) -> None:
    restarted = anyio.Event()

    def on_event(event: ToolEvent) -> None:
        if event.kind == "server_restarted":
            restarted.set()

    async with ToolRegistry([ServerSpec("sample", sample_stdio(tmp_path))], on_event=on_event) as registry:
        first_pid = await server_pid(registry)
        os.kill(first_pid, signal.SIGKILL)
        with anyio.fail_after(15):
            await restarted.wait()
        assert await server_pid(registry) != first_pid


async def test_timeout_cancels_the_handler_in_the_server_process(tmp_path: Path) -> None:
    async with ToolRegistry([ServerSpec("sample", sample_stdio(tmp_path))]) as registry:
        with anyio.fail_after(5):
            result = await registry.call("sample__slow", {"seconds": 30}, timeout_s=0.3)
        assert json.loads(result.output)["error"]["kind"] == "timeout"
        await wait_for_file(tmp_path / "slow-cancelled")


async def test_cancelling_the_caller_cancels_the_handler_in_the_server_process(tmp_path: Path) -> None:
    async with ToolRegistry([ServerSpec("sample", sample_stdio(tmp_path))]) as registry:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(registry.call, "sample__slow", {"seconds": 30})
                await wait_for_file(tmp_path / "slow-started")
                tg.cancel_scope.cancel()
        await wait_for_file(tmp_path / "slow-cancelled")
        assert not (await registry.call("sample__echo", {"text": "still here"})).is_error


async def test_list_changed_over_stdio(tmp_path: Path) -> None:
    async with ToolRegistry([ServerSpec("sample", sample_stdio(tmp_path))]) as registry:
        changed = anyio.Event()
        registry.add_listener(changed.set)
        await registry.call("sample__grow", {"name": "later", "reply": "here now"})
        with anyio.fail_after(5):
            await changed.wait()
        result = await registry.call("sample__later", {})
        assert result.output == "here now"


async def test_a_server_that_exits_at_start_is_reported(tmp_path: Path) -> None:
    exits = StdioServerParameters(command=sys.executable, args=["-c", "raise SystemExit(3)"])
    specs = [ServerSpec("exits", exits), ServerSpec("sample", sample_stdio(tmp_path))]
    async with ToolRegistry(specs) as registry:
        assert list(registry.errors) == ["exits"]
        assert "closed the connection" in registry.errors["exits"]
        assert not (await registry.call("sample__echo", {"text": "fine"})).is_error


async def test_a_read_only_call_right_after_a_crash_is_retried(tmp_path: Path) -> None:
    async with ToolRegistry([ServerSpec("sample", sample_stdio(tmp_path))]) as registry:
        os.kill(await server_pid(registry), signal.SIGKILL)
        # No waiting: the call may race the crash; a read-only tool is safe to send again.
        with anyio.fail_after(15):
            result = await registry.call("sample__lookup", {"key": "k"})
        assert result.output == "value of k"
