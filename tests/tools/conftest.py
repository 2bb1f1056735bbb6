"""Fixtures for the tool layer: the sample server as a stdio subprocess and over streamable HTTP."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
from mcp import StdioServerParameters

SERVERS = Path(__file__).parent / "servers"
REPO = Path(__file__).resolve().parents[2]


def sample_stdio(events_dir: Path) -> StdioServerParameters:
    """The sample server as a subprocess; it records handler events as files in `events_dir`."""
    return StdioServerParameters(
        command=sys.executable,
        args=[str(SERVERS / "sample.py")],
        env={"SAMPLE_EVENTS_DIR": str(events_dir), "PYTHONPATH": str(REPO)},
    )


async def wait_for_file(path: Path, timeout_s: float = 5.0) -> None:
    """Wait until a server process has written `path` (it has no other way to tell us)."""
    with anyio.fail_after(timeout_s):
        # Another process writes it: there is no event to await, so poll briefly.
        while not await anyio.Path(path).exists():  # noqa: ASYNC110
            await anyio.sleep(0.01)
