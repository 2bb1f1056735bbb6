"""Questions a tool asks, put to the user by the model, at the session's wire (mcp SDK servers).

2026-07-28 (`input_required`, form and URL mode) and legacy (`elicitation/create`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from mcp_voice.session import HostSettings
from mcp_voice.session.questions import ANSWER_TOOL, URL_EVENT
from mcp_voice.tools import ServerSpec, ToolRegistry
from tests.session.wire import Session, function_call_item, open_session
from tests.tasks.conftest import task_stdio
from tests.tasks.test_elicitation_client import SECRET_URL, build, build_legacy

pytestmark = pytest.mark.anyio
Event = dict[str, Any]


@pytest.fixture
async def registry() -> AsyncIterator[ToolRegistry]:
    async with ToolRegistry([ServerSpec("ask", build()), ServerSpec("legacy", build_legacy())]) as registry:
        yield registry


async def upstream_until(s: Session, match: Callable[[Event], bool]) -> Event:
    """Upstream events up to the first that matches (items acknowledged, responses played)."""
    with anyio.fail_after(5):
        while True:
            event = await s.upstream()
            if event["type"] == "conversation.item.create":
                await s.ack(event)
            if match(event):
                return event
            if event["type"] == "response.create":
                await s.respond()  # the model speaks (the placeholder, the question)


def system_text(event: Event) -> str:
    item = event.get("item") or {}
    if event["type"] != "conversation.item.create" or item.get("role") != "system":
        return ""
    return str(item["content"][0]["text"])


def tools_of(event: Event) -> list[str]:
    return (
        [t.get("name") for t in event["session"].get("tools", [])]
        if event["type"] == "session.update"
        else []
    )


async def ask_and_answer(s: Session, tool: str, answer: Event) -> str:
    """Call `tool`; the question reaches the model; it answers with `answer`; the result note."""
    await s.call_tool(tool, {})
    shown = await upstream_until(s, lambda e: ANSWER_TOOL in tools_of(e))
    assert ANSWER_TOOL in tools_of(shown)
    note = system_text(await upstream_until(s, lambda e: "asks the user" in system_text(e)))
    assert "What is your name?" in note and '"name"' in note
    question_id = note.split('question_id "', 1)[1].split('"', 1)[0]
    arguments = json.dumps({"question_id": question_id, **answer})
    await s.respond(function_call_item(ANSWER_TOOL, arguments))
    hidden = await upstream_until(s, lambda e: e["type"] == "session.update")
    assert ANSWER_TOOL not in tools_of(hidden)  # no question open: no answer tool
    return system_text(await upstream_until(s, lambda e: "has finished" in system_text(e)))


@pytest.mark.parametrize("tool", ["ask__greet", "legacy__greet_legacy"])
async def test_a_spoken_answer_fills_the_question_and_the_call_resumes(
    registry: ToolRegistry, tool: str
) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        result = await ask_and_answer(s, tool, {"answer": {"name": "Ada"}})
        assert "hello Ada" in result
        # the client saw the answer as a finished host call, never as a function to run
        assert not [e for e in s.sent("client") if (e.get("item") or {}).get("type") == "function_call"]


async def test_the_user_declining_declines(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        assert "no name (decline)" in await ask_and_answer(s, "ask__greet", {"declined": True})


async def test_no_answer_in_time_declines_and_the_session_goes_on(registry: ToolRegistry) -> None:
    async with open_session(registry, HostSettings(elicitation_timeout_s=0.3)) as s:
        await s.upstream("session.update")
        await s.call_tool("ask__greet", {})
        result = system_text(await upstream_until(s, lambda e: "has finished" in system_text(e)))
        assert "no name (decline)" in result
        hidden = [e for e in s.sent("upstream", "session.update") if e is not None]
        assert ANSWER_TOOL not in tools_of(hidden[-1])


async def test_a_url_is_never_spoken_it_goes_to_the_client(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        await s.call_tool("ask__sign_in", {})
        note = system_text(await upstream_until(s, lambda e: "open a link" in system_text(e)))
        assert "sent to the user's screen" in note
        result = system_text(await upstream_until(s, lambda e: "has finished" in system_text(e)))
        assert "sign-in accept" in result
        links = s.sent("client", URL_EVENT)
        assert len(links) == 1 and links[0]["url"] == SECRET_URL and links[0]["message"]
        upstream_text = json.dumps(s.sent("upstream"))
        assert SECRET_URL not in upstream_text and "auth.example.com" not in upstream_text


async def test_a_task_that_asks_is_answered_aloud(tmp_path: Path) -> None:
    """fastmcp-tasks: the task parks in input_required; the spoken answer goes back by tasks/update."""
    async with ToolRegistry([ServerSpec("tasks", task_stdio(tmp_path))]) as registry:
        async with open_session(registry) as s:
            await s.upstream("session.update")
            await s.call_tool("tasks__ask_name", {})
            placeholder = await upstream_until(
                s, lambda e: (e.get("item") or {}).get("type") == "function_call_output"
            )
            assert json.loads(placeholder["item"]["output"])["status"] == "running"
            note = system_text(await upstream_until(s, lambda e: "asks the user" in system_text(e)))
            question_id = note.split('question_id "', 1)[1].split('"', 1)[0]
            arguments = json.dumps({"question_id": question_id, "answer": {"name": "Ada"}})
            await s.respond(function_call_item(ANSWER_TOOL, arguments))
            result = system_text(await upstream_until(s, lambda e: "has finished" in system_text(e)))
            assert "hello Ada" in result
