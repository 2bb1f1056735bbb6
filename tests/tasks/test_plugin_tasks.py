"""`mcp-voice mcp filesystem` serves its long-running search as an MCP task, to our own tasks client."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from mcp import StdioServerParameters

from mcp_voice.tools import ServerSpec, ToolRegistry
from mcp_voice.tools.tasks import CallHooks, TaskInfo

pytestmark = pytest.mark.anyio

MCP_VOICE = Path(sys.executable).parent / "mcp-voice"


async def test_the_filesystem_search_runs_as_a_task_over_stdio(tmp_path: Path) -> None:
    root = tmp_path / "shared"
    root.mkdir()
    for n in range(300):
        (root / f"file{n}.txt").write_text("needle\n" if n % 100 == 7 else "hay\n")
    config = tmp_path / "mcp-voice.toml"
    config.write_text('[plugins.filesystem]\nroot = "shared"\n')
    env = {k: v for k, v in os.environ.items() if k not in ("MCP_VOICE_TOKEN", "MCP_VOICE_CONFIG")}
    params = StdioServerParameters(
        command=str(MCP_VOICE),
        args=["mcp", "filesystem", "--config", str(config)],
        env={**env, "MCP_VOICE_PLUGINS": "filesystem"},
    )
    async with ToolRegistry([ServerSpec("fs", params)]) as registry:
        assert registry.errors == {}
        tasks: list[TaskInfo] = []
        hooks = CallHooks()
        result = await registry.call(
            "fs__search_files", {"content": "needle"}, on_task=tasks.append, hooks=hooks
        )
        assert not result.is_error, result.output
        assert "file7.txt" in result.output and "file207.txt" in result.output
        assert len(tasks) == 1 and tasks[0].poll_interval_ms == 500 and hooks.gets >= 1
        # an ordinary tool of the same server stays an ordinary call
        listing = await registry.call("fs__list_directory", {"path": "."}, on_task=tasks.append)
        assert not listing.is_error and len(tasks) == 1
        assert (await registry.resume("fs", tasks[0].task_id)).output == result.output
