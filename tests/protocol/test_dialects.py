"""Beta <-> GA translation: pure functions, against both SDKs' types, and the channel wrapper."""

from __future__ import annotations

import base64
import json
import typing
from typing import Any

import anyio
import pytest
from openai.types.beta.realtime import RealtimeServerEvent as BetaServerEvent
from openai.types.beta.realtime import SessionUpdateEvent as BetaSessionUpdate
from openai.types.realtime import RealtimeClientEvent as GAClientEvent

from mcp_voice.channels import channel_pair
from mcp_voice.protocol.dialects import (
    BetaClientChannel,
    client_event_to_ga,
    dialect_from_headers,
    server_event_to_beta,
    session_to_beta,
)
from mcp_voice.sim import SimConfig
from mcp_voice.upstreams import open_upstream


def _by_type(union: Any) -> dict[str, type]:
    classes = typing.get_args(typing.get_args(union)[0])
    return {typing.get_args(c.model_fields["type"].annotation)[0]: c for c in classes}


BETA_SERVER = _by_type(BetaServerEvent)
GA_CLIENT = _by_type(GAClientEvent)


def validate(classes: dict[str, type], event: dict[str, Any]) -> Any:
    cls = classes.get(event["type"])
    assert cls is not None, f"unknown type {event['type']!r}"
    return cls.model_validate(event)


BETA_SESSION = {
    "modalities": ["audio", "text"],
    "voice": "alloy",
    "instructions": "System instructions",
    "input_audio_format": "g711_ulaw",
    "output_audio_format": "g711_alaw",
    "input_audio_transcription": {"model": "whisper-1"},
    "turn_detection": {
        "type": "server_vad",
        "threshold": 0.5,
        "silence_duration_ms": 500,
        "create_response": True,
    },
    "tools": [
        {"type": "function", "name": "get_time", "description": "now", "parameters": {"type": "object"}}
    ],
    "tool_choice": "auto",
    "max_response_output_tokens": 4096,
}


def test_dialect_from_headers() -> None:
    assert dialect_from_headers({"OpenAI-Beta": "realtime=v1"}) == "beta"
    assert dialect_from_headers({"openai-beta": "assistants=v2, Realtime=V1"}) == "beta"
    assert dialect_from_headers({"OPENAI-BETA": "assistants=v2"}) == "ga"
    assert dialect_from_headers({}) == "ga"


def test_beta_session_update_becomes_valid_ga() -> None:
    BetaSessionUpdate.model_validate(
        {"type": "session.update", "session": {**BETA_SESSION, "temperature": 0.8}}
    )
    ga = client_event_to_ga({"type": "session.update", "session": {**BETA_SESSION, "temperature": 0.8}})
    validate(GA_CLIENT, ga)
    session = ga["session"]
    assert session["type"] == "realtime"
    assert session["output_modalities"] == ["audio"]
    assert session["max_output_tokens"] == 4096
    assert "temperature" not in session and "voice" not in session
    assert session["audio"] == {
        "input": {
            "format": {"type": "audio/pcmu"},
            "transcription": {"model": "whisper-1"},
            "turn_detection": BETA_SESSION["turn_detection"],
        },
        "output": {"format": {"type": "audio/pcma"}, "voice": "alloy"},
    }
    none = client_event_to_ga({"type": "session.update", "session": {"turn_detection": {"type": "none"}}})
    assert none["session"]["audio"]["input"]["turn_detection"] is None
    assert client_event_to_ga({"type": "session.update", "session": {"modalities": ["text"]}})["session"][
        "output_modalities"
    ] == ["text"]


def test_session_round_trip_keeps_the_data() -> None:
    ga = client_event_to_ga({"type": "session.update", "session": BETA_SESSION})["session"]
    back = session_to_beta(ga)
    assert back["modalities"] == ["text", "audio"]
    assert {k: v for k, v in back.items() if k != "modalities"} == {
        k: v for k, v in BETA_SESSION.items() if k != "modalities"
    }
    ga_session = {"type": "realtime", "output_modalities": ["text"], "audio": {"output": {"speed": 1.2}}}
    assert (
        client_event_to_ga({"type": "session.update", "session": session_to_beta(ga_session)})["session"]
        == ga_session
    )


def test_beta_response_create_and_items_become_ga() -> None:
    beta = {
        "type": "response.create",
        "response": {
            "modalities": ["text"],
            "voice": "echo",
            "output_audio_format": "pcm16",
            "max_response_output_tokens": "inf",
            "temperature": 0.7,
            "conversation": "none",
            "metadata": {"k": "v"},
            "input": [{"type": "message", "role": "assistant", "content": [{"type": "text", "text": "hi"}]}],
        },
    }
    ga = client_event_to_ga(beta)
    validate(GA_CLIENT, ga)
    assert ga["response"] == {
        "output_modalities": ["text"],
        "max_output_tokens": "inf",
        "conversation": "none",
        "metadata": {"k": "v"},
        "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "echo"}},
        "input": [
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hi"}]}
        ],
    }
    item = {"type": "message", "role": "assistant", "content": [{"type": "audio", "transcript": "t"}]}
    ga_item = client_event_to_ga({"type": "conversation.item.create", "item": item})
    validate(GA_CLIENT, ga_item)
    assert ga_item["item"]["content"] == [{"type": "output_audio", "transcript": "t"}]
    assert item["content"][0]["type"] == "audio"  # input untouched
    user = {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]},
    }
    assert client_event_to_ga(user) == user


def test_hosted_mcp_items_and_events_are_dropped() -> None:
    mcp_item = {"id": "m1", "type": "mcp_call", "server_label": "s", "name": "n", "arguments": "{}"}
    for event in (
        {"type": "conversation.item.added", "event_id": "e", "item": mcp_item},
        {
            "type": "response.output_item.added",
            "event_id": "e",
            "response_id": "r",
            "output_index": 0,
            "item": mcp_item,
        },
        {
            "type": "response.output_item.done",
            "event_id": "e",
            "response_id": "r",
            "output_index": 0,
            "item": {**mcp_item, "type": "mcp_list_tools"},
        },
        {"type": "response.mcp_call.completed", "event_id": "e", "item_id": "m1", "output_index": 0},
        {"type": "mcp_list_tools.completed", "event_id": "e", "item_id": "m1"},
        {"type": "output_audio_buffer.stopped", "event_id": "e", "response_id": "r"},
        {
            "type": "conversation.item.done",
            "event_id": "e",
            "item": {"type": "message", "role": "user", "content": []},
        },
    ):
        assert server_event_to_beta(event) is None, event["type"]
    text = {
        "id": "i1",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "ok"}],
    }
    done = {
        "type": "response.done",
        "event_id": "e",
        "response": {
            "id": "r",
            "status": "completed",
            "output": [mcp_item, text],
            "output_modalities": ["text"],
        },
    }
    beta = server_event_to_beta(done)
    assert beta is not None
    validate(BETA_SERVER, beta)
    assert beta["response"]["output"] == [{**text, "content": [{"type": "text", "text": "ok"}]}]
    assert beta["response"]["modalities"] == ["text"]


@pytest.mark.anyio
async def test_a_whole_simulator_session_translates_to_valid_beta() -> None:
    """Every GA event of a real session: either dropped on purpose, or a valid beta event."""
    dropped: set[str] = set()
    translated: list[dict[str, Any]] = []
    tool = {"type": "function", "name": "lookup", "parameters": {"type": "object"}}

    async with open_upstream("sim", model="gpt-realtime", sim_config=SimConfig(speed=0)) as up:

        async def until(kind: str) -> None:
            with anyio.fail_after(10):
                while True:
                    event = await up.receive()
                    assert isinstance(event, dict)
                    beta = server_event_to_beta(event)
                    if beta is None:
                        dropped.add(event["type"])
                    else:
                        validate(BETA_SERVER, beta)
                        translated.append(beta)
                    if event["type"] == kind:
                        return

        await until("session.created")
        update = client_event_to_ga(
            {
                "type": "session.update",
                "session": {
                    **BETA_SESSION,
                    "input_audio_format": "pcm16",
                    "output_audio_format": "pcm16",
                    "tools": [tool],
                },
            }
        )
        await up.send(update)
        await until("session.updated")
        loud = base64.b64encode(b"\x00\x40" * 24 * 300).decode()
        await up.send({"type": "input_audio_buffer.append", "audio": loud})
        await up.send(
            {"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\x00" * 48 * 600).decode()}
        )
        await until("response.done")
        for text in ("lookup q=1", "hello"):
            await up.send(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": text}],
                    },
                }
            )
            await up.send(
                client_event_to_ga(
                    {
                        "type": "response.create",
                        "response": {"modalities": ["text"] if text == "hello" else ["audio", "text"]},
                    }
                )
            )
            await until("response.done")

    kinds = {e["type"] for e in translated}
    assert dropped == {"conversation.item.done"}
    assert {
        "session.created",
        "session.updated",
        "input_audio_buffer.speech_started",
        "conversation.item.created",
        "response.audio.delta",
        "response.audio_transcript.done",
        "response.text.delta",
        "response.text.done",
        "response.function_call_arguments.done",
        "response.done",
    } <= kinds
    assert not {k for k in kinds if k.startswith(("response.output_text", "response.output_audio"))}
    session = next(e for e in translated if e["type"] == "session.updated")["session"]
    assert session["input_audio_format"] == "pcm16" and session["modalities"] == ["text", "audio"]
    assert session["turn_detection"]["silence_duration_ms"] == 500
    audio_item = next(
        e for e in translated if e["type"] == "response.output_item.done" and e["item"]["type"] == "message"
    )
    assert audio_item["item"]["content"][0]["type"] == "audio"


@pytest.mark.anyio
async def test_beta_client_channel_translates_both_ways() -> None:
    host_side, client_side = channel_pair()
    beta = BetaClientChannel(host_side)
    with anyio.fail_after(5):
        await client_side.send(json.dumps({"type": "session.update", "session": {"modalities": ["text"]}}))  # type: ignore[arg-type]
        got = await beta.receive()
        assert isinstance(got, dict) and got["session"] == {"output_modalities": ["text"], "type": "realtime"}
        await client_side.send("{broken")  # type: ignore[arg-type]
        assert await beta.receive() == "{broken"

        user = {
            "id": "item_u",
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "x"}],
        }
        await beta.send({"type": "conversation.item.added", "event_id": "e1", "item": user})
        await beta.send({"type": "conversation.item.done", "event_id": "e2", "item": user})
        await beta.send(
            {"type": "conversation.item.added", "event_id": "e3", "item": {**user, "id": "item_v"}}
        )
        await beta.send(
            {
                "type": "response.output_text.delta",
                "event_id": "e4",
                "response_id": "r",
                "item_id": "i",
                "output_index": 0,
                "content_index": 0,
                "delta": "hi",
            }
        )
        first = await client_side.receive()
        second = await client_side.receive()
        third = await client_side.receive()
    assert isinstance(first, dict) and isinstance(second, dict) and isinstance(third, dict)
    assert (first["type"], first["previous_item_id"]) == ("conversation.item.created", None)
    assert (second["type"], second["previous_item_id"]) == ("conversation.item.created", "item_u")
    assert third["type"] == "response.text.delta"
    for event in (first, second, third):
        validate(BETA_SERVER, event)


def test_an_approval_request_reaches_a_beta_client() -> None:
    """Beta has no MCP items, but without this one a beta client could never approve a tool."""
    item = {
        "id": "a1",
        "type": "mcp_approval_request",
        "server_label": "fs",
        "name": "move",
        "arguments": "{}",
    }
    out = server_event_to_beta({"type": "conversation.item.added", "event_id": "e", "item": item})
    assert out is not None
    assert out["type"] == "conversation.item.created" and out["item"] == item
