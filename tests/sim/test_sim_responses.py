"""Responses at the wire: text and audio replies, tool calls, the one-active rule, cancel."""

from __future__ import annotations

import base64
import json

import anyio
import pytest
from simwire import connect

from mcp_voice.sim import SimConfig

pytestmark = pytest.mark.anyio

AUDIO_SEQUENCE = [
    "response.created",
    "response.output_item.added",
    "conversation.item.added",
    "response.content_part.added",
    "response.output_audio.done",
    "response.output_audio_transcript.done",
    "response.content_part.done",
    "response.output_item.done",
    "conversation.item.done",
    "response.done",
]
TOOL = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}


def _skeleton(events: list[dict]) -> list[str]:
    return [e["type"] for e in events if not e["type"].endswith(".delta")]


async def test_audio_reply_full_sequence_deltas_and_duration() -> None:
    config = SimConfig(speed=0, ms_per_char=50, chunk_ms=100)
    async with connect(config) as wire:
        await wire.user_text("hello")
        await wire.send({"type": "response.create"})
        events = await wire.until("response.done")
    assert _skeleton(events) == AUDIO_SEQUENCE
    audio = b"".join(
        base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta"
    )
    text = "You said: hello"
    assert len(audio) == len(text) * 50 * 48  # PCM16 24 kHz: 48 bytes per ms
    transcript = "".join(e["delta"] for e in events if e["type"] == "response.output_audio_transcript.delta")
    assert transcript == text
    done = events[-1]["response"]
    assert done["status"] == "completed"
    assert done["output"][0]["content"] == [{"type": "output_audio", "transcript": text}]
    assert done["usage"]["output_tokens"] > 0 and done["usage"]["input_tokens"] > 0
    created = events[0]["response"]
    assert created["status"] == "in_progress" and created["id"] == done["id"]


async def test_text_modality_and_say_hook() -> None:
    async with connect(output_modalities=["text"]) as wire:
        await wire.user_text("please say: Exactly this, nothing more.")
        await wire.send({"type": "response.create"})
        events = await wire.until("response.done")
    assert "response.output_audio.delta" not in [e["type"] for e in events]
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == "Exactly this, nothing more."
    assert events[-1]["response"]["output"][0]["content"] == [{"type": "output_text", "text": text}]


async def test_tool_call_from_user_text_with_json_arguments_then_readback() -> None:
    async with connect(tools=[TOOL]) as wire:
        await wire.user_text('call get_weather with {"city": "Paris", "days": 2} please')
        await wire.send({"type": "response.create"})
        events = await wire.until("response.done")
        kinds = [e["type"] for e in events]
        assert "response.output_audio.delta" not in kinds
        done_args = next(e for e in events if e["type"] == "response.function_call_arguments.done")
        deltas = "".join(e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta")
        assert json.loads(done_args["arguments"]) == {"city": "Paris", "days": 2} == json.loads(deltas)
        assert done_args["name"] == "get_weather"
        item = next(e for e in events if e["type"] == "response.output_item.done")["item"]
        assert item["type"] == "function_call" and item["status"] == "completed"
        assert item["call_id"] == done_args["call_id"]
        assert events[-1]["response"]["output"][0]["call_id"] == done_args["call_id"]

        await wire.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "function_call_output",
                    "call_id": done_args["call_id"],
                    "output": "sunny, 21 C",
                },
            }
        )
        await wire.expect("conversation.item.added")
        await wire.expect("conversation.item.done")
        await wire.send({"type": "response.create"})
        events = await wire.until("response.done")
        transcript = next(e for e in events if e["type"] == "response.output_audio_transcript.done")[
            "transcript"
        ]
        assert transcript == "Tool result: sunny, 21 C"


async def test_tool_call_key_value_arguments_and_tool_choice_none() -> None:
    async with connect(tools=[TOOL]) as wire:
        await wire.user_text("get_weather city=Oslo days=3")
        await wire.send({"type": "response.create"})
        events = await wire.until("response.done")
        args = next(e for e in events if e["type"] == "response.function_call_arguments.done")["arguments"]
        assert json.loads(args) == {"city": "Oslo", "days": 3}
        await wire.user_text("get_weather again")
        await wire.send({"type": "response.create", "response": {"tool_choice": "none"}})
        events = await wire.until("response.done")
        assert events[-1]["response"]["output"][0]["type"] == "message"


async def test_second_response_create_while_active_is_refused_with_event_id() -> None:
    async with connect(SimConfig(speed=5.0)) as wire:
        await wire.user_text("a reply that takes a while to speak out loud")
        await wire.send({"type": "response.create", "event_id": "evt_first"})
        first = await wire.expect("response.created")
        await wire.send({"type": "response.create", "event_id": "evt_second"})
        events = await wire.until("error")
        error = events[-1]["error"]
        assert error["code"] == "conversation_already_has_active_response"
        assert error["event_id"] == "evt_second"
        assert "response.created" not in [e["type"] for e in events]
        await wire.send({"type": "response.cancel"})
        events = await wire.until("response.done")
        done = events[-1]["response"]
        assert done["id"] == first["response"]["id"]
        assert done["status"] == "cancelled"
        assert done["status_details"]["reason"] == "client_cancelled"
        assert done["output"][0]["status"] == "incomplete"
        assert [e["type"] for e in events].count("response.created") == 0
        # right after response.done a new response is accepted
        await wire.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
        await wire.expect("response.created")


async def test_cancel_with_nothing_active_is_an_error() -> None:
    async with connect() as wire:
        await wire.send({"type": "response.cancel", "event_id": "evt_c"})
        error = (await wire.expect("error"))["error"]
        assert (error["code"], error["event_id"]) == ("response_cancel_not_active", "evt_c")


async def test_out_of_band_response_runs_beside_and_stays_out_of_the_conversation() -> None:
    async with connect(SimConfig(speed=5.0)) as wire:
        await wire.user_text("a long enough reply to still be running")
        await wire.send({"type": "response.create"})
        main = (await wire.expect("response.created"))["response"]["id"]
        await wire.send(
            {
                "type": "response.create",
                "response": {
                    "conversation": "none",
                    "output_modalities": ["text"],
                    "metadata": {"topic": "summary"},
                    "input": [
                        {
                            "type": "message",
                            "role": "user",
                            "content": [{"type": "input_text", "text": "say: ok"}],
                        }
                    ],
                },
            }
        )
        events = []
        oob_done = None
        while oob_done is None:
            event = await wire.receive()
            events.append(event)
            if event["type"] == "response.done" and event["response"]["id"] != main:
                oob_done = event["response"]
        assert oob_done["conversation_id"] is None and oob_done["metadata"] == {"topic": "summary"}
        assert oob_done["output"][0]["content"][0]["text"] == "ok"
        oob_items = {o["id"] for o in oob_done["output"]}
        added = {e["item"]["id"] for e in events if e["type"] == "conversation.item.added"}
        assert not oob_items & added
        await wire.send({"type": "response.cancel", "response_id": main})
        assert (await wire.until("response.done"))[-1]["response"]["id"] == main


async def test_max_output_tokens_makes_an_incomplete_response() -> None:
    async with connect(output_modalities=["text"]) as wire:
        await wire.user_text("say: " + "word " * 40)
        await wire.send({"type": "response.create", "response": {"max_output_tokens": 2}})
        done = (await wire.until("response.done"))[-1]["response"]
        assert done["status"] == "incomplete"
        assert done["status_details"]["reason"] == "max_output_tokens"
        assert len(done["output"][0]["content"][0]["text"]) <= 8


async def test_cancel_stops_a_reply_cut_by_max_output_tokens_at_once() -> None:
    """A reply shortened by max_output_tokens is still streaming: cancel must end it now."""
    async with connect(SimConfig(speed=1.0)) as wire:
        await wire.user_text("say: " + "word " * 40)
        await wire.send({"type": "response.create", "response": {"max_output_tokens": 20}})
        await wire.expect("response.created")  # 80 characters: 4.8 s of audio at real speed
        await wire.send({"type": "response.cancel"})
        with anyio.fail_after(2):
            done = (await wire.until("response.done"))[-1]["response"]
        assert done["status"] == "cancelled"
        assert done["status_details"]["reason"] == "client_cancelled"
        assert done["output"][0]["status"] == "incomplete"


async def test_text_streams_at_text_speed_and_a_long_reply_is_capped() -> None:
    """Text is not paced like speech: 5 ms a character, and never longer than `max_text_ms`."""
    long_reply = "word " * 200  # 1000 characters: 60 s as speech, 5 s at text speed uncapped
    async with connect(SimConfig(speed=1.0, max_text_ms=300), output_modalities=["text"]) as wire:
        await wire.user_text("say: " + long_reply)
        await wire.send({"type": "response.create"})
        await wire.expect("response.created")
        start = anyio.current_time()
        with anyio.fail_after(2):
            done = (await wire.until("response.done"))[-1]["response"]
        assert anyio.current_time() - start >= 0.25  # paced, up to the cap
        assert done["output"][0]["content"][0]["text"] == long_reply.strip()


async def test_a_simulator_bug_fails_that_response_and_the_session_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An exception inside a response: an error and a failed response.done, not a dropped socket."""
    from mcp_voice.sim.responses import Response

    run = Response.run
    broken = {"once": True}

    async def run_or_break(self: Response) -> None:
        if broken.pop("once", False):
            raise RuntimeError("boom")
        await run(self)

    monkeypatch.setattr(Response, "run", run_or_break)
    async with connect(output_modalities=["text"]) as wire:
        await wire.user_text("say: first")
        await wire.send({"type": "response.create"})
        events = await wire.until("response.done")
        error = next(e for e in events if e["type"] == "error")["error"]
        assert error["code"] == "server_error" and "boom" in error["message"]
        assert events[-1]["response"]["status"] == "failed"
        await wire.send({"type": "response.create"})  # the session still answers
        events = await wire.until("response.done")
        assert events[-1]["response"]["status"] == "completed"
