"""Session lifecycle and conversation items, at the wire."""

from __future__ import annotations

import json

import anyio
import pytest
import websockets
from simwire import TIMEOUT_S, Wire, connect, validate_ga

from mcp_voice.sim import SimConfig, run_simulator
from mcp_voice.upstreams import open_upstream

pytestmark = pytest.mark.anyio


async def test_session_created_is_ga_with_model_and_defaults() -> None:
    async with open_upstream("sim", model="gpt-realtime-mini", sim_config=SimConfig(speed=0)) as channel:
        event = await Wire(channel).expect("session.created")
    session = event["session"]
    assert session["type"] == "realtime"
    assert session["model"] == "gpt-realtime-mini"
    assert session["output_modalities"] == ["audio"]
    assert session["tools"] == []
    assert session["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert session["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}
    td = session["audio"]["input"]["turn_detection"]
    assert td["type"] == "server_vad" and td["create_response"] and td["interrupt_response"]


async def test_session_update_merges_and_reports() -> None:
    tool = {"type": "function", "name": "get_time", "description": "now", "parameters": {"type": "object"}}
    async with connect() as wire:
        session = await wire.update(
            instructions="be brief", tools=[tool], audio={"output": {"voice": "marin"}}
        )
        assert session["instructions"] == "be brief"
        assert session["tools"] == [tool]
        assert session["audio"]["output"]["voice"] == "marin"
        assert session["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}  # kept
        assert session["audio"]["input"]["turn_detection"] is None  # from connect()


@pytest.mark.parametrize(
    ("session", "param"),
    [
        ({"instructions": "no type"}, "session.type"),
        ({"type": "realtime", "output_modalities": ["audio", "text"]}, "session.output_modalities"),
        ({"type": "realtime", "tools": [{"type": "function", "name": "bad name!"}]}, "session.tools[0].name"),
        ({"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}}, None),
    ],
)
async def test_session_update_nonsense_is_an_error(session: dict, param: str | None) -> None:
    async with connect() as wire:
        await wire.send({"type": "session.update", "event_id": "evt_1", "session": session})
        error = (await wire.expect("error"))["error"]
        assert error["event_id"] == "evt_1"
        if param:
            assert error["param"] == param
        await wire.update(instructions="still open")


async def test_malformed_json_gets_an_error_and_the_connection_stays_open() -> None:
    async with connect() as wire:
        await wire.send("{not json")
        assert (await wire.expect("error"))["error"]["code"] == "invalid_json"
        await wire.send({"type": "no.such.event", "event_id": "evt_x"})
        error = (await wire.expect("error"))["error"]
        assert (error["code"], error["param"], error["event_id"]) == ("invalid_value", "type", "evt_x")
        await wire.send({"type": "input_audio_buffer.append", "audio": 5})
        assert (await wire.expect("error"))["error"]["code"] == "invalid_type"
        await wire.user_text("still here")


async def test_item_create_delete_retrieve() -> None:
    async with connect() as wire:
        first = await wire.user_text("one")
        await wire.send(
            {
                "type": "conversation.item.create",
                "previous_item_id": "root",
                "item": {
                    "id": "item_sys",
                    "type": "message",
                    "role": "system",
                    "content": [{"type": "input_text", "text": "s"}],
                },
            }
        )
        added = await wire.expect("conversation.item.added")
        assert added["previous_item_id"] is None and added["item"]["id"] == "item_sys"
        await wire.expect("conversation.item.done")
        await wire.send({"type": "conversation.item.retrieve", "item_id": first})
        retrieved = await wire.expect("conversation.item.retrieved")
        assert retrieved["item"]["content"][0]["text"] == "one"
        await wire.send({"type": "conversation.item.delete", "item_id": first})
        assert (await wire.expect("conversation.item.deleted"))["item_id"] == first
        await wire.send({"type": "conversation.item.retrieve", "event_id": "evt_r", "item_id": first})
        error = (await wire.expect("error"))["error"]
        assert error["code"] == "item_not_found" and error["event_id"] == "evt_r"


async def test_function_call_output_with_unknown_call_id_is_an_error() -> None:
    async with connect() as wire:
        await wire.send(
            {
                "type": "conversation.item.create",
                "event_id": "evt_fco",
                "item": {"type": "function_call_output", "call_id": "call_nope", "output": "{}"},
            }
        )
        error = (await wire.expect("error"))["error"]
        assert error["event_id"] == "evt_fco" and error["param"] == "item.call_id"
        assert "call_nope" in error["message"]


async def test_user_audio_item_keeps_audio_out_of_added_but_retrieve_returns_it() -> None:
    import base64

    audio = base64.b64encode(b"\x00\x01" * 2400).decode()
    async with connect() as wire:
        await wire.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_audio", "audio": audio}],
                },
            }
        )
        added = await wire.expect("conversation.item.added")
        assert "audio" not in added["item"]["content"][0]
        await wire.expect("conversation.item.done")
        await wire.send({"type": "conversation.item.retrieve", "item_id": added["item"]["id"]})
        assert (await wire.expect("conversation.item.retrieved"))["item"]["content"][0]["audio"] == audio


async def test_sessions_are_independent() -> None:
    async with connect() as a, connect() as b:
        await a.update(instructions="A")
        session_b = await b.update(tools=[])
        assert session_b["instructions"] != "A"


async def test_standalone_server_auth_path_and_beta_refusal() -> None:
    async with run_simulator(config=SimConfig(speed=0, api_key="k1")) as sim:
        assert sim.url.startswith("ws://127.0.0.1:") and sim.url.endswith("/v1/realtime")
        with pytest.raises(websockets.InvalidStatus) as denied:
            await websockets.connect(sim.url)
        assert denied.value.response.status_code == 401
        with pytest.raises(websockets.InvalidStatus) as missing:
            await websockets.connect(
                sim.url.replace("/v1/realtime", "/nope"), additional_headers={"Authorization": "Bearer k1"}
            )
        assert missing.value.response.status_code == 404
        headers = {"Authorization": "Bearer k1", "OpenAI-Beta": "realtime=v1"}
        async with websockets.connect(sim.url, additional_headers=headers) as ws:
            with anyio.fail_after(TIMEOUT_S):
                error = json.loads(await ws.recv())
                validate_ga(error)
                assert error["error"]["code"] == "beta_api_shape_disabled"
                with pytest.raises(websockets.ConnectionClosed):
                    await ws.recv()
            assert ws.close_code == 4000
        async with open_upstream(sim.url, model="m", api_key="k1") as channel:
            wire = Wire(channel)
            assert (await wire.expect("session.created"))["session"]["model"] == "m"
            assert sim.sessions == 1


async def test_voice_is_locked_after_audio_was_spoken() -> None:
    async with connect() as wire:
        await wire.update(audio={"output": {"voice": "cedar"}})
        await wire.user_text("say: hi")
        await wire.send({"type": "response.create"})
        await wire.until("response.done")
        await wire.send(
            {"type": "session.update", "session": {"type": "realtime", "audio": {"output": {"voice": "ash"}}}}
        )
        assert (await wire.expect("error"))["error"]["code"] == "cannot_update_voice"
        assert (await wire.update(audio={"output": {"voice": "cedar"}}))["audio"]["output"][
            "voice"
        ] == "cedar"


async def test_malformed_response_input_is_an_error() -> None:
    async with connect() as wire:
        await wire.send(
            {
                "type": "response.create",
                "response": {"input": [{"type": "message", "role": "user", "content": [1]}]},
            }
        )
        error = (await wire.expect("error"))["error"]
        assert (error["code"], error["param"]) == ("invalid_value", "response.input[0]")
        await wire.user_text("still open")
