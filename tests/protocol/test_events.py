"""parse_client_event, error_event and the id helpers."""

from __future__ import annotations

import json

import pytest
from openai.types.realtime import RealtimeErrorEvent

from mcp_voice.protocol.events import (
    GA_CLIENT_EVENT_FIELDS,
    GA_CLIENT_EVENT_TYPES,
    ClientEventError,
    error_event,
    new_call_id,
    new_event_id,
    new_item_id,
    new_response_id,
    parse_client_event,
)


def test_accepts_every_ga_client_event_type_in_any_input_form() -> None:
    good = {
        "session.update": {"session": {"type": "realtime"}},
        "input_audio_buffer.append": {"audio": "AAAA"},
        "conversation.item.create": {"item": {"type": "message"}},
        "conversation.item.retrieve": {"item_id": "item_1"},
        "conversation.item.delete": {"item_id": "item_1"},
        "conversation.item.truncate": {"item_id": "item_1", "content_index": 0, "audio_end_ms": 10},
        "response.create": {"response": {"conversation": "none"}},
    }
    assert set(GA_CLIENT_EVENT_FIELDS) == GA_CLIENT_EVENT_TYPES
    for kind in GA_CLIENT_EVENT_TYPES:
        event = {"type": kind, **good.get(kind, {})}
        assert parse_client_event(event) == event
        assert parse_client_event(json.dumps(event)) == event
        assert parse_client_event(json.dumps(event).encode()) == event


@pytest.mark.parametrize(
    ("raw", "code", "param"),
    [
        ("{oops", "invalid_json", None),
        (b"\xff\xfe", "invalid_json", None),
        ("[1, 2]", "invalid_event", None),
        ({"event_id": "e"}, "missing_required_parameter", "type"),
        ({"type": "response.text.delta"}, "invalid_value", "type"),
        ({"type": "input_audio_buffer.append"}, "missing_required_parameter", "audio"),
        ({"type": "input_audio_buffer.append", "audio": 12}, "invalid_type", "audio"),
        (
            {"type": "input_audio_buffer.append", "audio": "AA", "api_key": "sk"},
            "unknown_parameter",
            "api_key",
        ),
        ({"type": "response.create", "response": {}, "tools": []}, "unknown_parameter", "tools"),
        ({"type": "session.update", "session": {}, "model": "m"}, "unknown_parameter", "model"),
        ({"type": "conversation.item.create"}, "missing_required_parameter", "item"),
        ({"type": "conversation.item.create", "item": "x"}, "invalid_type", "item"),
        (
            {"type": "conversation.item.truncate", "item_id": "i", "content_index": 0},
            "missing_required_parameter",
            "audio_end_ms",
        ),
        (
            {"type": "conversation.item.truncate", "item_id": "i", "content_index": True, "audio_end_ms": 1},
            "invalid_type",
            "content_index",
        ),
        (
            {"type": "conversation.item.truncate", "item_id": "i", "content_index": 0, "audio_end_ms": -1},
            "invalid_value",
            "audio_end_ms",
        ),
        ({"type": "session.update", "session": []}, "invalid_type", "session"),
        ({"type": "response.create", "response": "now"}, "invalid_type", "response"),
        ({"type": "session.update", "session": {"tools": {}}}, "invalid_type", "session.tools"),
        (
            {"type": "conversation.item.create", "item": {"type": "mcp_approval_response", "approve": "y"}},
            "invalid_type",
            "item.approve",
        ),
        (
            {"type": "conversation.item.create", "item": {"type": "mcp_approval_response"}},
            "invalid_type",
            "item.approve",
        ),
    ],
)
def test_rejects_with_code_and_param(raw: object, code: str, param: str | None) -> None:
    with pytest.raises(ClientEventError) as info:
        parse_client_event(raw)  # type: ignore[arg-type]
    assert (info.value.code, info.value.param) == (code, param)


def test_error_names_the_client_event() -> None:
    with pytest.raises(ClientEventError) as info:
        parse_client_event({"type": "session.update", "event_id": "evt_9"})
    event = info.value.to_event()
    RealtimeErrorEvent.model_validate(event)
    assert event["error"]["event_id"] == "evt_9" and event["event_id"].startswith("event_")


def test_error_event_and_ids() -> None:
    event = error_event("nope", code="x", event_id="evt_1", param="p", type="server_error")
    assert RealtimeErrorEvent.model_validate(event).error.type == "server_error"
    assert event["error"] == {
        "type": "server_error",
        "code": "x",
        "message": "nope",
        "param": "p",
        "event_id": "evt_1",
    }
    for make, prefix in (
        (new_event_id, "event_"),
        (new_item_id, "item_"),
        (new_call_id, "call_"),
        (new_response_id, "resp_"),
    ):
        a, b = make(), make()
        assert a.startswith(prefix) and a != b and len(a) <= 32
