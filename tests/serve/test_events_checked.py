"""Events are checked once, where they enter, at the wire (issue 17).

Client events that crashed a session (a 300-deep `event_id` on an audio append, non-string ids
forwarded upstream) get an `error` and the socket stays open. Upstream events of a wrong shape
(`response: true`, `item: 5`, `rate_limits: 7`, `type: ["x"]`), which crashed the metrics tap or
logged tracebacks in the reconnect mirror, are dropped and logged once per shape: the metrics
tap, the event log, the reconnect mirror and the host never see them, and the session goes on.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from conftest import FakeUpstream, http_get, serving
from hypothesis import given, settings
from hypothesis import strategies as st
from test_serve_wire import until

from mcp_voice.protocol.mirror import SessionMirror
from mcp_voice.protocol.shapes import server_event_problem
from mcp_voice.serve.eventlog import EventLog
from mcp_voice.serve.observe import ServeMetrics
from mcp_voice.serve.settings import ServeSettings
from mcp_voice.session.context import CallContext
from tests.session.test_fuzz import FUZZ, STATS, json_values, upstream_events

pytestmark = pytest.mark.anyio

BAD_UPSTREAM = [
    {"type": "response.done", "event_id": "ev_b1", "response": True},
    {"type": "response.output_item.done", "event_id": "ev_b2", "item": 5, "output_index": 0},
    {"type": "rate_limits.updated", "event_id": "ev_b3", "rate_limits": 7},
    {"type": ["x"], "event_id": "ev_b4"},
    {"type": "response.done", "event_id": "ev_b5", "response": {"id": "r", "usage": 3}},
    {"type": "rate_limits.updated", "event_id": "ev_b6", "rate_limits": [1, 2]},
    {"type": "conversation.item.added", "event_id": "ev_b7", "item": {"id": "i", "content": [5]}},
    {"type": "error", "event_id": "ev_b8", "error": "boom"},
    {"type": "conversation.item.added", "event_id": {"deep": True}, "item": {"id": "i"}},
]


class HostileUpstream(FakeUpstream):
    """The recording fake, which also plays the raw messages a client's `say` item names."""

    async def _serve(self, ws: websockets.ServerConnection) -> None:
        self.ws = ws
        await super()._serve(ws)


async def play(fake: HostileUpstream, *messages: str | dict[str, Any]) -> None:
    for message in messages:
        await fake.ws.send(message if isinstance(message, str) else json.dumps(message))


def deep_id(levels: int) -> str:
    return (
        '{"type":"input_audio_buffer.append","audio":"AAAA","event_id":' + "[" * levels + "]" * levels + "}"
    )


@pytest.fixture
async def hostile() -> AsyncIterator[HostileUpstream]:
    fake = HostileUpstream()
    async with websockets.serve(fake.handler, "127.0.0.1", 0) as server:
        fake.port = server.sockets[0].getsockname()[1]
        yield fake


@pytest.mark.parametrize(
    "raw",
    [
        deep_id(300),
        deep_id(3),
        '{"type":"input_audio_buffer.append","audio":[],"event_id":' + "[" * 300 + "]" * 300 + "}",
        '{"type":"input_audio_buffer.append","event_id":' + "[" * 300 + "]" * 300 + "}",
        '{"type":"input_audio_buffer.append","audio":"AAAA","event_id":5}',
        '{"type":"input_audio_buffer.append","audio":"AAAA","event_id":{"a":"b"}}',
        '{"type":"input_audio_buffer.append","audio":"AAAA","event_id":"' + "e" * 500 + '"}',
        '{"type":"response.create","event_id":7}',
        '{"type":"conversation.item.create","item":{"type":"message","x":' + "[" * 40 + "]" * 40 + "}}",
    ],
    ids=[
        "append-id-300-deep",
        "append-id-3-deep",
        "append-bad-audio-deep-id",
        "append-no-audio-deep-id",
        "append-int-id",
        "append-object-id",
        "long-id",
        "int-id",
        "deep",
    ],
)
async def test_a_bad_client_event_gets_an_error_is_not_forwarded_and_the_socket_stays(
    registry: Any, hostile: HostileUpstream, raw: str
) -> None:
    async with serving(registry, ServeSettings(upstream=hostile.url)) as where:
        async with websockets.connect(f"ws://{where}/v1/realtime") as ws:
            await until(ws, "session.created")
            await ws.send(raw)
            error = (await until(ws, "error"))["error"]
            assert error["type"] == "invalid_request_error", error
            await ws.send('{"type":"input_audio_buffer.append","audio":"AAAA","event_id":"ok_1"}')
            await ws.send('{"type":"session.update","event_id":"ok_2","session":{"type":"realtime"}}')
            await until(ws, "session.updated")
    ids = [event.get("event_id") for event in hostile.events]
    assert all(isinstance(event_id, str) for event_id in ids), ids
    assert "ok_1" in ids


async def test_bad_upstream_events_are_dropped_once_logged_and_the_session_goes_on(
    registry: Any, hostile: HostileUpstream, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    settings = ServeSettings(upstream=hostile.url, event_log_dir=str(tmp_path))
    async with serving(registry, settings) as where:
        async with websockets.connect(f"ws://{where}/v1/realtime") as ws:
            await until(ws, "session.created")
            seen: list[dict[str, Any]] = []
            for _ in range(2):  # each shape twice: logged once
                await play(hostile, *BAD_UPSTREAM, "not json {")
            usage = {"input_tokens": 11, "output_tokens": 7, "total_tokens": 18}
            limits = [{"name": "tokens", "limit": 1000, "remaining": 990, "reset_seconds": 1.0}]
            await play(
                hostile,
                {"type": "rate_limits.updated", "event_id": "ev_ok1", "rate_limits": limits},
                {
                    "type": "response.done",
                    "event_id": "ev_ok2",
                    "response": {"id": "resp_1", "status": "completed", "output": [], "usage": usage},
                },
            )
            await until(ws, "response.done", seen)
            # the session goes on both ways
            await ws.send('{"type":"session.update","event_id":"ok_3","session":{"type":"realtime"}}')
            await until(ws, "session.updated")
            status, metrics = await http_get(f"http://{where}/metrics")
    assert status == 200
    assert 'mcp_voice_tokens_total{kind="input"} 11.0' in metrics, metrics
    assert 'mcp_voice_rate_limit_remaining{name="tokens"} 990.0' in metrics
    ids = {event.get("event_id") for event in seen}
    assert not ids & {bad["event_id"] for bad in BAD_UPSTREAM if isinstance(bad["event_id"], str)}, seen
    logged = [r for r in caplog.records if "malformed upstream event" in r.getMessage()]
    messages = [r.getMessage() for r in logged]
    assert len(messages) == len(set(messages)) == 9, messages  # 10 shapes, two alike ("not an array")
    assert all(r.exc_info is None for r in caplog.records), "no tracebacks"
    assert not [r for r in caplog.records if "Traceback" in r.getMessage() or "could not" in r.getMessage()]
    logged_ids = {json.loads(line).get("event", {}).get("event_id") for line in _event_log(tmp_path)}
    assert "ev_ok2" in logged_ids and "ev_b1" not in logged_ids


def _event_log(folder: Path) -> list[str]:
    (log_file,) = folder.glob("*.jsonl")
    return log_file.read_text().splitlines()


@st.composite
def observed_upstream_events(draw: st.DrawFn) -> dict[str, Any]:
    """The session fuzzer's upstream events, plus the fields the observers read."""
    event = draw(upstream_events())
    for key in draw(
        st.lists(st.sampled_from(["rate_limits", "item", "response", "event_id", "delta"]), max_size=2)
    ):
        event[key] = draw(json_values | st.lists(json_values, max_size=3))
    if draw(st.booleans()):
        event["response"] = {
            "id": "resp_a",
            "usage": draw(
                json_values | st.dictionaries(st.sampled_from(["input_tokens", "output_tokens"]), json_values)
            ),
        }
    if draw(st.booleans()):
        event["item"] = {
            "id": draw(json_values),
            "type": draw(st.sampled_from(["function_call", "message"]) | json_values),
            "content": draw(json_values),
        }
    return event


@settings(FUZZ, max_examples=10 * FUZZ.max_examples)  # cheap: no sockets
@given(st.lists(observed_upstream_events(), max_size=30))
def test_fuzzed_upstream_events_that_pass_the_check_never_break_an_observer(
    events: list[dict[str, Any]],
) -> None:
    """The metrics tap, the event log and the reconnect mirror read events unchecked: whatever the
    boundary lets through, none of them raises."""
    metrics = ServeMetrics()
    context = CallContext()
    mirror = SessionMirror()
    with tempfile.TemporaryDirectory() as folder:
        event_log = EventLog.open(folder, context, 2**20)
        assert event_log is not None
        for event in events:
            if server_event_problem(event) is not None:
                STATS["upstream events refused at the boundary"] += 1
                continue
            STATS["upstream events passed to the observers"] += 1
            metrics._from_upstream(context, event)
            event_log.write("from_upstream", event)
            mirror.received(event["type"], event)
        event_log.close()
        metrics.render()


@FUZZ
@given(st.lists(observed_upstream_events(), min_size=1, max_size=25))
async def test_fuzzed_upstream_events_at_the_wire_never_end_the_session(
    registry: Any, hostile: HostileUpstream, events: list[dict[str, Any]]
) -> None:
    """Through serve (reconnect mirror, metrics tap, event log, host): the session survives all."""
    with tempfile.TemporaryDirectory() as folder:
        settings = ServeSettings(upstream=hostile.url, event_log_dir=folder)
        async with serving(registry, settings) as where:
            async with websockets.connect(f"ws://{where}/v1/realtime") as ws:
                await until(ws, "session.created")
                await play(hostile, *events)
                await ws.send('{"type":"session.update","event_id":"probe","session":{"type":"realtime"}}')
                await until(ws, "session.updated")
                status, _ = await http_get(f"http://{where}/metrics")
                assert status == 200
    STATS["sessions through serve"] += 1
    STATS["upstream events through serve"] += len(events)
