"""Malformed upstream events never end a session: each is logged at warning and dropped or passed on.

And one `call_id` runs once, however many items repeat it (the issue's reproductions).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from mcp_voice.tools.registry import ToolRegistry
from tests.session.wire import ev, function_call_item, open_session, response_obj

pytestmark = pytest.mark.anyio

DEEP: Any = []
for _ in range(300):
    DEEP = [DEEP]

MALFORMED: list[dict[str, Any]] = [
    {"type": ["x"]},
    {"type": {"a": 1}},
    {"type": "error", "error": "str"},
    {"type": "error", "error": {"event_id": ["unhashable"], "message": "m"}},
    {"type": "response.created", "response": "x"},
    {"type": "response.created", "response": {"id": ["x"]}},
    {"type": "response.done", "response": {"output": 5}},
    {"type": "response.done", "response": {"id": "r", "output": [5, "x", {"type": "function_call"}]}},
    {"type": "conversation.item.added", "item": "oops"},
    {"type": "conversation.item.done", "item": {"id": ["x"], "type": "function_call"}},
    {"type": "response.output_item.done", "item": {"type": "function_call", "status": "completed", "id": 5}},
    {"type": "response.output_item.done", "item": "oops", "output_index": "x"},
    {"type": "response.function_call_arguments.done", "item_id": ["x"]},
    {"type": "session.updated", "session": {"audio": {"input": {"turn_detection": 5}}, "tools": 7}},
    {"type": "session.created", "session": "x"},
    {"type": "input_audio_buffer.dtmf_event_received", "event": ["1"]},
    {"type": "conversation.item.added", "item": {"deep": DEEP}},
    {"type": "rate_limits.updated", "rate_limits": DEEP},
]


@pytest.mark.parametrize("event", MALFORMED, ids=range(len(MALFORMED)))
async def test_a_malformed_upstream_event_does_not_end_the_session(
    registry: ToolRegistry, event: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with open_session(registry, check=False) as s:
        await s.upstream("session.update")
        await s.play(event)
        # the session goes on: a tool call still runs and is answered
        item = await s.call_tool("voice__add", {"a": 2, "b": 3})
        output = await s.upstream_item()
        assert (output["call_id"], output["output"]) == (item["call_id"], "5")
        assert not s.host.closed.is_set()


async def test_each_dropped_event_is_logged_at_warning(
    registry: ToolRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with open_session(registry, check=False) as s:
        await s.upstream("session.update")
        await s.play({"type": ["x"]}, {"type": "response.created", "response": "x"})
        await s.call_tool("voice__add", {"a": 1, "b": 1})
        await s.upstream_item()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("'type' is list" in message for message in warnings), warnings
    assert any("response.created" in message for message in warnings), warnings


async def test_two_items_sharing_a_call_id_run_once(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        first = function_call_item("voice__add", '{"a": 2, "b": 2}')
        again = function_call_item("voice__add", '{"a": 2, "b": 2}', call_id=first["call_id"])
        await s.respond(first, again)
        output = await s.upstream_item()
        assert output["call_id"] == first["call_id"]
        await s.upstream("response.create")
        await s.respond()
        await s.settle()
        outputs = [e for e in s.sent("upstream", "conversation.item.create")]
        assert len(outputs) == 1, outputs


async def test_an_upstream_error_with_a_string_body_is_dropped_not_fatal(registry: ToolRegistry) -> None:
    async with open_session(registry, check=False) as s:
        await s.upstream("session.update")
        await s.play(ev("error", error="str"))
        await s.call_tool("voice__add", {"a": 1, "b": 2})
        assert (await s.upstream_item())["output"] == "3"


async def test_no_response_create_while_an_announced_response_is_unfinished(registry: ToolRegistry) -> None:
    """An upstream that starts a second response before finishing the first (a protocol breach):
    the host waits for both to finish before it asks for another (found by the fuzzer)."""
    async with open_session(registry) as s:
        await s.upstream("session.update")
        await s.play(ev("response.created", response=response_obj("resp_first")))
        await s.call_tool("voice__add", {"a": 2, "b": 5})
        assert (await s.upstream_item())["output"] == "7"
        await s.settle()
        assert not s.sent("upstream", "response.create")
        await s.done("resp_first")
        await s.upstream("response.create")
