"""Hypothesis fuzzing of the session host: random and malformed client and upstream events, both at
once, interleaved with tool calls and barge-in.

Checked for every example: the host survives (nothing crashes, the session stays open), every
client event is forwarded, queued or answered with an `error`, no `response.create` is sent while
a response is active, and every host call delivers exactly one result.

CI runs a bounded number of examples; `MCP_VOICE_FUZZ_EXAMPLES=5000 pytest tests/session/test_fuzz.py`
runs a longer campaign (`bench/fuzz.py` prints the counts).
"""

from __future__ import annotations

import atexit
import json
import os
from collections import Counter
from typing import Any

import anyio
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcp_voice.protocol.events import GA_CLIENT_EVENT_TYPES
from mcp_voice.tools.registry import ToolRegistry
from tests.session.servers import Probe
from tests.session.wire import Session, ev, function_call_item, open_session, response_obj

pytestmark = pytest.mark.anyio

EXAMPLES = int(os.environ.get("MCP_VOICE_FUZZ_EXAMPLES", "30"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=EXAMPLES <= 30,  # CI: the same examples every run; a campaign explores
)
STATS: Counter[str] = Counter()
"""What the campaign exercised: appended as JSON to $MCP_VOICE_FUZZ_STATS at exit (bench/fuzz.py)."""


def _write_stats() -> None:
    path = os.environ.get("MCP_VOICE_FUZZ_STATS")
    if path and STATS:
        with open(path, "a") as out:
            out.write(json.dumps(STATS) + "\n")


atexit.register(_write_stats)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
CLIENT_FIELDS = [
    "event_id",
    "session",
    "item",
    "response",
    "audio",
    "item_id",
    "content_index",
    "audio_end_ms",
    "previous_item_id",
    "response_id",
]
HOST_TOOLS = ["voice__add", "extra__hello", "voice__fetch"]


def deep(levels: int) -> str:
    return '{"type":"response.create","response":{"metadata":' + "[" * levels + "]" * levels + "}}"


@st.composite
def client_dicts(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from([*sorted(GA_CLIENT_EVENT_TYPES), "bogus", ""]) | json_values)
    event: dict[str, Any] = {"type": kind}
    for key in draw(st.lists(st.sampled_from(CLIENT_FIELDS), max_size=3, unique=True)):
        event[key] = draw(json_values)
    if kind == "session.update" and draw(st.booleans()):
        tools = draw(
            st.lists(json_values | st.fixed_dictionaries({"type": json_values, "name": json_values}))
        )
        event["session"] = {"type": "realtime", "tools": tools}
    if kind == "conversation.item.create" and draw(st.booleans()):
        event["item"] = {
            "type": "mcp_approval_response",
            "approve": draw(json_values),
            "approval_request_id": draw(json_values),
        }
    return event


client_messages = st.one_of(
    client_dicts().map(lambda e: orjson.dumps(e).decode()),
    json_values.map(lambda v: orjson.dumps(v).decode()),
    st.text(max_size=40),
    st.integers(200, 1000).map(deep),
)

SERVER_TYPES = [
    "error",
    "session.created",
    "session.updated",
    "conversation.item.added",
    "conversation.item.done",
    "conversation.item.deleted",
    "response.created",
    "response.done",
    "response.output_item.added",
    "response.output_item.done",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "input_audio_buffer.speech_started",
    "input_audio_buffer.speech_stopped",
    "input_audio_buffer.committed",
    "input_audio_buffer.dtmf_event_received",
    "rate_limits.updated",
]


@st.composite
def upstream_events(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(SERVER_TYPES) | json_values)
    event: dict[str, Any] = {"type": kind}
    for key in draw(st.lists(st.sampled_from(["event_id", "response", "item", "error", "session", "event"]))):
        event[key] = draw(json_values)
    if draw(st.booleans()):
        event["response"] = response_obj(draw(st.sampled_from(["resp_a", "resp_b"])), output=[])
    return event


actions = st.lists(
    st.one_of(
        client_messages.map(lambda m: ("client", m)),
        st.lists(upstream_events(), min_size=1, max_size=6).map(lambda e: ("upstream", e)),
        st.sampled_from(HOST_TOOLS).map(lambda name: ("call", name)),
        st.just(("barge_in", None)),
    ),
    max_size=20,
)


def accounted(s: Session, before: tuple[int, int, int]) -> bool:
    """Whether the client message was forwarded, queued or answered with an error."""
    upstream, errors, waiting = before
    return (
        len(s.sent("upstream")) > upstream
        or len(s.sent("client", "error")) > errors
        or s.host.sequencer.waiting > waiting
        or s.host.sequencer.busy
    )


def check_never_two_active(s: Session) -> None:
    """A tolerant `check_response_creates`: malformed upstream events count for nothing."""
    pending = False
    active: set[str] = set()
    for direction, event in s.timeline:
        if not isinstance(event, dict):
            continue
        kind, response = event.get("type"), event.get("response")
        rid = response.get("id") if isinstance(response, dict) else None
        if direction == "to_upstream" and kind == "response.create":
            if isinstance(response, dict) and response.get("conversation") == "none":
                continue
            assert not pending and not active, f"response.create while busy ({active})"
            pending = True
        elif direction == "from_upstream" and kind == "response.created" and isinstance(rid, str):
            if response.get("conversation_id", "x") is not None:  # type: ignore[union-attr]
                pending = False
                active.add(rid)
        elif direction == "from_upstream" and kind == "response.done" and isinstance(rid, str):
            active.discard(rid)
        elif direction == "from_upstream" and kind == "error":
            pending = False  # an error may answer it; the sequencer then stops waiting too


def check_results_exactly_once(s: Session, calls: list[dict[str, Any]]) -> None:
    outputs = Counter(
        e["item"].get("call_id")
        for e in s.sent("upstream", "conversation.item.create")
        if e["item"].get("type") == "function_call_output"
    )
    assert all(count == 1 for count in outputs.values()), outputs
    for call in calls:
        assert outputs[call["call_id"]] == 1, (call, outputs)


async def settle(s: Session) -> None:
    with anyio.fail_after(20):
        await s.settle()
        await s.settle()


@FUZZ
@given(messages=st.lists(client_messages, min_size=1, max_size=15))
async def test_fuzzed_client_events_are_each_forwarded_or_answered(
    registry: ToolRegistry, messages: list[str]
) -> None:
    async with open_session(registry, check=False) as s:
        await settle(s)
        for message in messages:
            before = (len(s.sent("upstream")), len(s.sent("client", "error")), s.host.sequencer.waiting)
            await s.send(message)
            await settle(s)
            assert accounted(s, before), message
            STATS["client events"] += 1
        assert not s.host.closed.is_set()
        check_never_two_active(s)


@FUZZ
@given(steps=actions)
async def test_fuzzed_client_and_upstream_events_with_calls_and_barge_in(
    registry: ToolRegistry, probe: Probe, steps: list[tuple[str, Any]]
) -> None:
    calls: list[dict[str, Any]] = []
    async with open_session(registry, check=False) as s:
        await settle(s)
        for action, value in steps:
            if action == "client":
                before = (len(s.sent("upstream")), len(s.sent("client", "error")), s.host.sequencer.waiting)
                await s.send(value)
                await settle(s)
                assert accounted(s, before), value
                STATS["client events"] += 1
            elif action == "upstream":
                await s.play(*value)
                STATS["upstream events"] += len(value)
            elif action == "call":
                arguments = {"a": 1, "b": 2} if value == "voice__add" else {"name": "x", "key": "k"}
                item = function_call_item(value, json.dumps(arguments))
                calls.append(item)
                await s.respond(item)
                STATS["tool calls"] += 1
            else:
                await s.play(ev("input_audio_buffer.speech_started", audio_start_ms=0, item_id="item_speech"))
                STATS["barge-ins"] += 1
            await settle(s)
        probe["fetch"].release.set()  # a held call (unless barge-in cancelled it) now finishes
        await settle(s)
        assert not s.host.closed.is_set()
        check_never_two_active(s)
        check_results_exactly_once(s, calls)
        STATS["examples"] += 1
