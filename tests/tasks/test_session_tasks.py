"""A call the server runs as an MCP task, at the session's wire (fastmcp-tasks, stdio and HTTP).

No config marks `slow_count` long-running: the session learns it from the server's answer.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import pytest

from mcp_voice.session import HostSettings
from mcp_voice.tools import ServerSpec, ToolRegistry
from mcp_voice.tools.spec import ServerTarget
from mcp_voice.tools.tasks import get_task
from tests.session.wire import Session, ev, open_session
from tests.tasks.conftest import HttpTaskServer, start_http_task_server, task_stdio
from tests.tools.conftest import wait_for_file

pytestmark = pytest.mark.anyio

FAST_NOTES = HostSettings(progress_interval_s=0.0)


def notes(s: Session, call_id: str, *, progress: bool) -> list[str]:
    """The system notes the host injected about `call_id` (progress notes or the result)."""
    texts = [
        e["item"]["content"][0]["text"]
        for e in s.sent("upstream", "conversation.item.create")
        if e["item"].get("role") == "system" and call_id in e["item"]["content"][0]["text"]
    ]
    return [t for t in texts if ("Progress" in t) == progress]


async def next_system_note(s: Session, *, progress: bool) -> str:
    """The next system note upstream of the kind asked for (other items are acknowledged)."""
    with anyio.fail_after(15):
        while True:
            create = await s.server.receive()
            assert isinstance(create, dict)
            if create["type"] != "conversation.item.create":
                continue
            await s.ack(create)
            item = create["item"]
            if item.get("role") == "system" and ("Progress" in item["content"][0]["text"]) == progress:
                return str(item["content"][0]["text"])


@pytest.fixture(params=["stdio", "http"])
async def task_registry(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ToolRegistry]:
    async with AsyncExitStack() as stack:
        if request.param == "stdio":
            target: ServerTarget = task_stdio(tmp_path)
        else:
            target = (await stack.enter_async_context(start_http_task_server(tmp_path))).url
        registry = await stack.enter_async_context(ToolRegistry([ServerSpec("tasks", target)]))
        assert registry.errors == {}
        yield registry


async def test_a_task_call_is_long_running_by_itself(task_registry: ToolRegistry) -> None:
    async with open_session(task_registry, FAST_NOTES) as s:
        await s.upstream("session.update")
        started = anyio.current_time()
        item = await s.call_tool("tasks__slow_count", {"steps": 4, "delay_s": 0.4})
        await s.upstream("session.update")  # the steering tools come with the first task
        placeholder = await s.upstream_item()
        took = anyio.current_time() - started
        assert placeholder["type"] == "function_call_output" and placeholder["call_id"] == item["call_id"]
        assert json.loads(placeholder["output"])["status"] == "running"
        assert took < 0.2, f"placeholder after {took * 1000:.0f} ms"
        await s.upstream("response.create")
        # The client saw the call finish at once, with the placeholder as its output.
        done = [e for e in s.sent("client", "conversation.item.done") if e["item"]["id"] == item["id"]]
        assert len(done) == 1 and json.loads(done[0]["item"]["output"])["status"] == "running"
        await s.respond()  # "I've started counting"
        progress = await next_system_note(s, progress=True)
        assert "step" in progress and item["call_id"] in progress
        result = await next_system_note(s, progress=False)
        assert "counted 4" in result
        await s.upstream("response.create")
        await s.respond()
        await anyio.sleep(0.5)
        await s.settle()
        assert len(notes(s, item["call_id"], progress=False)) == 1
        assert len(s.sent("upstream", "response.create")) == 2


async def test_barge_in_cancels_the_task_at_the_server(http_task_server: HttpTaskServer) -> None:
    spec = ServerSpec("tasks", http_task_server.url, on_barge_in="cancel")
    async with ToolRegistry([spec]) as registry:
        task_ids: list[str] = []
        registry.add_event_listener(
            lambda e: task_ids.append(e.detail["task_id"]) if e.kind == "task" else None
        )
        async with open_session(registry) as s:
            await s.upstream("session.update")
            item = await s.call_tool("tasks__slow_count", {"steps": 60, "delay_s": 0.2})
            await s.upstream("session.update")  # the steering tools come with the first task
            await s.upstream_item()
            await s.upstream("response.create")
            await s.respond()
            await wait_for_file(http_task_server.events / "started-60", 10)
            await s.play(ev("input_audio_buffer.speech_started", audio_start_ms=100, item_id="item_user"))
            assert len(task_ids) == 1
            async with ToolRegistry([ServerSpec("other", http_task_server.url)]) as other:
                client = other._connections["other"]._client
                assert client is not None
                with anyio.fail_after(5):
                    # tasks/cancel is cooperative: the server says cancelled once it has stopped.
                    while (state := await get_task(client.session, task_ids[0])).status == "working":  # noqa: ASYNC110
                        await anyio.sleep(0.1)
            assert state.status == "cancelled"
            await anyio.sleep(0.3)
            assert notes(s, item["call_id"], progress=False) == []  # a cancelled call is never spoken


async def test_a_killed_server_gives_one_error_and_the_session_goes_on(tmp_path: Path) -> None:
    async with ToolRegistry([ServerSpec("tasks", task_stdio(tmp_path))]) as registry:
        async with open_session(registry) as s:
            await s.upstream("session.update")
            item = await s.call_tool("tasks__slow_count", {"steps": 60, "delay_s": 0.2})
            await s.upstream("session.update")  # the steering tools come with the first task
            await s.upstream_item()
            await s.upstream("response.create")
            await s.respond()
            await wait_for_file(tmp_path / "started-60", 10)
            (pid_file,) = [path async for path in anyio.Path(tmp_path).glob("pid-*")]
            os.kill(int(pid_file.name.removeprefix("pid-")), signal.SIGKILL)
            result = await next_system_note(s, progress=False)
            assert item["call_id"] in result and "the task was lost" in result
            await s.upstream("response.create")
            await s.respond()
            # the server was restarted; the session's next call works
            quick = await s.call_tool("tasks__quick", {"text": "again"})
            output = await s.upstream_item()
            assert output["call_id"] == quick["call_id"] and output["output"] == "quick again"
            await s.upstream("response.create")
            await s.respond()
            await anyio.sleep(0.3)
            assert len(notes(s, item["call_id"], progress=False)) == 1


async def test_the_session_ending_cancels_its_task(http_task_server: HttpTaskServer) -> None:
    async with ToolRegistry([ServerSpec("tasks", http_task_server.url)]) as registry:
        task_ids: list[str] = []
        registry.add_event_listener(
            lambda e: task_ids.append(e.detail["task_id"]) if e.kind == "task" else None
        )
        async with open_session(registry) as s:
            await s.upstream("session.update")
            await s.call_tool("tasks__slow_count", {"steps": 70, "delay_s": 0.2})
            await s.upstream("session.update")  # the steering tools come with the first task
            await s.upstream_item()
            await wait_for_file(http_task_server.events / "started-70", 10)
        # the session is over (its `keep` call included); the registry and the server live on
        client = registry._connections["tasks"]._client
        assert client is not None and len(task_ids) == 1
        state = await get_task(client.session, task_ids[0])
        assert state.status == "cancelled"
