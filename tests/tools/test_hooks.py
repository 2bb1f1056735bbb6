"""Each hookspec, exercised the way a plugin uses it: through `open_tools` and real MCP servers.

The names `test_hook_<hookspec>` are what tests/test_hookspecs.py looks for: a new hook without
such a test fails that guard.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import anyio
import mcp.types
import pytest

from mcp_voice.api import open_tools
from mcp_voice.config import Config
from mcp_voice.hookspecs import hookimpl
from mcp_voice.tools.spec import ServerSpec, ToolEvent, ToolPolicy
from tests.tools.conftest import sample_stdio
from tests.tools.servers.sample import build_server

pytestmark = pytest.mark.anyio


class ThreeKinds:
    """Registers one server of each kind a plugin may contribute."""

    name = "three-kinds"

    def __init__(self, url: str, events_dir: Path) -> None:
        self.url = url
        self.events_dir = events_dir

    @hookimpl
    def register_servers(self, register: Callable[[ServerSpec], None], config: Config) -> None:
        register(ServerSpec("local", build_server()))
        register(ServerSpec("child", sample_stdio(self.events_dir)))
        register(ServerSpec("remote", self.url, headers={"Authorization": "Bearer sekrit"}))


async def test_hook_register_servers(http_sample: str, tmp_path: Path) -> None:
    with anyio.fail_after(30):
        async with open_tools(
            Config(), plugins=[], extra_plugins=[ThreeKinds(http_sample, tmp_path)]
        ) as tools:
            assert tools.errors == {}
            assert [spec.kind for spec in tools.servers.values()] == ["in-process", "stdio", "url"]
            assert {spec.plugin for spec in tools.servers.values()} == {"three-kinds"}
            answers = {}
            for server in ("local", "child", "remote"):
                result = await tools.call(f"{server}__add", {"a": 40, "b": 2})
                assert not result.is_error, result.output
                answers[server] = json.loads(result.output)
    assert answers == {"local": 42, "child": 42, "remote": 42}


class Sample:
    name = "sample"

    @hookimpl
    def register_servers(self, register: Callable[[ServerSpec], None], config: Config) -> None:
        register(ServerSpec("sample", build_server()))


class CancelOnBargeIn:
    """Sees the policy already resolved from `_meta`, and changes what it cares about."""

    name = "cancel-on-barge-in"

    def __init__(self) -> None:
        self.seen: dict[str, ToolPolicy] = {}

    @hookimpl
    def tool_policy(self, server: str, tool: mcp.types.Tool, policy: ToolPolicy) -> ToolPolicy | None:
        self.seen[f"{server}/{tool.name}"] = policy
        if tool.name == "echo":
            return dataclasses.replace(policy, long_running=True, on_barge_in="cancel", timeout_s=7)
        if tool.name == "lookup":
            return dataclasses.replace(policy, approval=True)
        return None


class Later:
    """Registered after `CancelOnBargeIn`, so pluggy asks it first: its answer wins for echo."""

    name = "later"

    @hookimpl
    def tool_policy(self, server: str, tool: mcp.types.Tool, policy: ToolPolicy) -> ToolPolicy | None:
        return dataclasses.replace(policy, timeout_s=3) if tool.name == "echo" else None


async def test_hook_tool_policy() -> None:
    first = CancelOnBargeIn()
    async with open_tools(Config(), plugins=[], extra_plugins=[Sample(), first, Later()]) as tools:
        echo, lookup, long_job = (tools.get(f"sample__{n}") for n in ("echo", "lookup", "long_job"))
        assert echo is not None and lookup is not None and long_job is not None
        # The first non-None answer wins: `Later` replaced echo's policy, `first` was not asked.
        assert echo.policy == ToolPolicy(timeout_s=3)
        assert "sample/echo" not in first.seen
        assert lookup.policy.approval and not lookup.policy.long_running
        # The hook saw long_job's `_meta` policy and kept it by answering None.
        assert first.seen["sample/long_job"] == long_job.policy
        assert long_job.policy == ToolPolicy(long_running=True, timeout_s=120, on_barge_in="cancel")


class Observer:
    name = "observer"

    def __init__(self) -> None:
        self.events: list[ToolEvent] = []

    @hookimpl
    def tool_event(self, event: ToolEvent) -> None:
        self.events.append(event)


async def test_hook_tool_event() -> None:
    observer = Observer()
    async with open_tools(Config(), plugins=[], extra_plugins=[Sample(), observer]) as tools:
        await tools.call("sample__work", {"steps": 2}, call_id="c1")
        await tools.call("sample__fail", {"message": "no paper"}, call_id="c2")
        changed = anyio.Event()
        tools.add_listener(changed.set)
        await tools.call("sample__grow", {"name": "hello", "reply": "hi"}, call_id="c3")
        with anyio.fail_after(5):
            await changed.wait()  # the refresh runs on the server's notification, in a task
    seen = [(e.kind, e.call_id) for e in observer.events]
    assert seen[:5] == [
        ("started", "c1"),
        ("progress", "c1"),
        ("progress", "c1"),
        ("finished", "c1"),
        ("started", "c2"),
    ]
    assert ("failed", "c2") in seen
    progress = [e.detail for e in observer.events if e.kind == "progress"]
    assert progress == [
        {"progress": 1, "total": 2, "message": "step 1"},
        {"progress": 2, "total": 2, "message": "step 2"},
    ]
    failed = next(e for e in observer.events if e.kind == "failed")
    assert failed.tool == "sample__fail" and "no paper" in failed.detail["message"]
    tools_changed = next(e for e in observer.events if e.kind == "tools_changed")
    assert tools_changed.server == "sample" and "sample__hello" in tools_changed.detail["tools"]
