"""The `local` upstream: the simulator's Realtime server answering with a Chat Completions model.

Against a real HTTP server on loopback streaming SSE (fake_chat.py), through a real WebSocket.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import anyio
import pytest
from fake_chat import Answer, fake_chat
from simwire import Wire

from mcp_voice.sim import SimConfig
from mcp_voice.sim.config import LlmSettings
from mcp_voice.upstreams import UpstreamError, open_upstream

pytestmark = pytest.mark.anyio

WEATHER = {
    "type": "function",
    "name": "weather__forecast",
    "description": "The forecast for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


async def local(url: str, *, speed: float = 0, **session: Any) -> Any:
    config = SimConfig(speed=speed, llm=LlmSettings(url=url, model="fake-model", api_key="llm-key"))
    return open_upstream("local", model="gpt-realtime", sim_config=config)


async def start(wire: Wire, **session: Any) -> None:
    await wire.expect("session.created")
    audio = {"input": {"turn_detection": None}, **session.pop("audio", {})}
    await wire.update(audio=audio, **session)


async def test_local_needs_a_chat_model() -> None:
    with pytest.raises(UpstreamError, match="needs a chat model"):
        async with open_upstream("local", model="m"):
            pass


async def test_text_deltas_stream_as_they_arrive_and_the_history_maps_onto_chat() -> None:
    async with fake_chat(Answer(text=["Hello ", "from ", "the model."])) as fake:
        async with await local(fake.url) as channel:
            wire = Wire(channel)
            await start(wire, output_modalities=["text"], instructions="Be brief.", tools=[WEATHER])
            await wire.user_text("hi there")
            await wire.send({"type": "response.create"})
            events = await wire.until("response.done")
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert deltas == ["Hello ", "from ", "the model."]
    assert events[-1]["response"]["status"] == "completed"
    (request,) = fake.requests
    assert request["model"] == "fake-model" and request["stream"] is True
    assert request["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi there"},
    ]
    assert request["tools"][0]["function"]["name"] == "weather__forecast"
    assert request["tools"][0]["function"]["parameters"] == WEATHER["parameters"]
    assert fake.headers[0]["authorization"] == "Bearer llm-key"


async def test_tool_call_deltas_become_a_function_call_and_the_output_goes_back() -> None:
    answers = (Answer(calls=[("weather__forecast", '{"city": "Oslo"}')]), Answer(text=["It is cold."]))
    async with fake_chat(*answers) as fake:
        async with await local(fake.url) as channel:
            wire = Wire(channel)
            await start(wire, output_modalities=["text"], tools=[WEATHER])
            await wire.user_text("weather in Oslo?")
            await wire.send({"type": "response.create"})
            done = (await wire.until("response.done"))[-1]
            (call,) = done["response"]["output"]
            assert call["type"] == "function_call" and call["name"] == "weather__forecast"
            assert json.loads(call["arguments"]) == {"city": "Oslo"}
            output = {"type": "function_call_output", "call_id": call["call_id"], "output": "-5 C"}
            await wire.send({"type": "conversation.item.create", "item": output})
            await wire.send({"type": "response.create"})
            events = await wire.until("response.done")
    assert [e["delta"] for e in events if e["type"] == "response.output_text.delta"] == ["It is cold."]
    history = fake.requests[1]["messages"]
    assert history[-2]["tool_calls"][0]["id"] == call["call_id"]
    assert history[-2]["tool_calls"][0]["function"] == {
        "name": "weather__forecast",
        "arguments": call["arguments"],
    }
    assert history[-1] == {"role": "tool", "tool_call_id": call["call_id"], "content": "-5 C"}


async def test_after_a_barge_in_the_model_sees_only_what_was_heard() -> None:
    words = [f"word{n} " for n in range(40)]
    async with fake_chat(Answer(text=words), Answer(text=["Sure."])) as fake:
        async with await local(fake.url, speed=1.0) as channel:  # real-time pacing, the tone
            wire = Wire(channel)
            await start(wire)
            await wire.user_text("talk to me")
            await wire.send({"type": "response.create"})
            item_id = None
            audio_ms = 0
            while audio_ms < 400:
                event = await wire.receive()
                if event["type"] == "response.output_audio.delta":
                    item_id = event["item_id"]
                    audio_ms += 100
            await wire.send({"type": "response.cancel"})
            done = (await wire.until("response.done"))[-1]
            assert done["response"]["status"] == "cancelled"
            truncate = {"item_id": item_id, "content_index": 0, "audio_end_ms": 300}
            await wire.send({"type": "conversation.item.truncate", **truncate})
            await wire.until("conversation.item.truncated")
            await wire.user_text("go on")
            await wire.send({"type": "response.create"})
            await wire.until("response.done")
    assistant = fake.requests[1]["messages"][-2]
    assert assistant["role"] == "assistant"
    heard = assistant["content"].split()
    assert heard and len(heard) < len(words), assistant  # some of it, not all of it
    assert heard == [w.strip() for w in words[: len(heard)]]


async def test_cancel_stops_a_slow_stream_at_once() -> None:
    async with fake_chat(Answer(text=["thinking"], hang_s=30)) as fake:
        async with await local(fake.url) as channel:
            wire = Wire(channel)
            await start(wire, output_modalities=["text"])
            await wire.user_text("hello")
            await wire.send({"type": "response.create"})
            await wire.until("response.output_text.delta")
            await wire.send({"type": "response.cancel"})
            with anyio.fail_after(3):
                done = (await wire.until("response.done"))[-1]
            assert done["response"]["status"] == "cancelled"
            with anyio.fail_after(3):
                await fake.stream_closed.wait()  # the HTTP stream was dropped, not left running


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("failure", ["unreachable", "http-500"])
async def test_a_failing_endpoint_gives_an_error_and_a_failed_response(failure: str) -> None:
    async with fake_chat(Answer(status=500)) as fake:
        url = fake.url if failure == "http-500" else f"http://127.0.0.1:{_closed_port()}/v1"
        async with await local(url) as channel:
            wire = Wire(channel)
            await start(wire)
            await wire.user_text("hello")
            await wire.send({"type": "response.create"})
            events = await wire.until("response.done")
    (error,) = [e for e in events if e["type"] == "error"]
    expected = "HTTP 500" if failure == "http-500" else "cannot reach the chat model"
    assert expected in error["error"]["message"]
    assert "llm-key" not in json.dumps(events)
    assert events[-1]["response"]["status"] == "failed"


async def test_serve_local_runs_the_hosts_mcp_tools_for_the_chat_model() -> None:
    """serve --upstream local: the host's MCP tools reach the model as chat tools, their results go back."""
    import websockets
    from mcp.server import MCPServer

    from mcp_voice.serve.app import create_app
    from mcp_voice.serve.run import bind_socket, running
    from mcp_voice.serve.settings import ServeSettings
    from mcp_voice.tools.registry import ToolRegistry
    from mcp_voice.tools.spec import ServerSpec

    tools = MCPServer("weather")

    @tools.tool()
    async def forecast(city: str) -> str:
        """The forecast for a city."""
        return f"snow in {city}"

    answers = (Answer(calls=[("weather__forecast", '{"city": "Oslo"}')]), Answer(text=["Snow, I am afraid."]))
    async with (
        fake_chat(*answers) as fake,
        ToolRegistry([ServerSpec(name="weather", target=tools)]) as registry,
    ):
        llm = LlmSettings(url=fake.url, model="fake-model")
        settings = ServeSettings(upstream="local", sim=SimConfig(speed=0, llm=llm))
        sock = bind_socket("127.0.0.1", 0)
        async with running(create_app(registry, settings), sock):
            url = f"ws://127.0.0.1:{sock.getsockname()[1]}/v1/realtime"
            async with websockets.connect(url) as ws:
                update = {"type": "realtime", "output_modalities": ["text"]}
                await ws.send(json.dumps({"type": "session.update", "session": update}))
                item = {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "Oslo?"}],
                }
                await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
                await ws.send(json.dumps({"type": "response.create"}))
                text = ""
                with anyio.fail_after(15):
                    while "afraid" not in text:
                        event = json.loads(await ws.recv())
                        assert event["type"] != "error", event
                        if event["type"] == "response.output_text.done":
                            text = event["text"]
    assert [t["function"]["name"] for t in fake.requests[0]["tools"]] == ["weather__forecast"]
    tool_message = fake.requests[1]["messages"][-1]
    assert tool_message["role"] == "tool" and "snow in Oslo" in tool_message["content"]


def test_serve_options_for_local_come_from_flags_or_the_local_table() -> None:
    from mcp_voice.config import parse_config
    from mcp_voice.serve.run import resolve_options, voice_lines
    from mcp_voice.serve.targets import TargetError

    with pytest.raises(TargetError, match="--llm-url URL --llm-model NAME"):
        resolve_options(parse_config({}), upstream="local", env={})
    with pytest.raises(TargetError, match="http"):
        resolve_options(parse_config({}), upstream="local", llm_url="ftp://x", llm_model="m", env={})
    config = parse_config({"local": {"llm_url": "http://127.0.0.1:11434/v1", "llm_model": "qwen3"}})
    options = resolve_options(config, upstream="local", env={"MCP_VOICE_LLM_KEY": "k-123"})
    llm = options.settings.sim.llm
    assert llm is not None and (llm.url, llm.model, llm.api_key) == (
        "http://127.0.0.1:11434/v1",
        "qwen3",
        "k-123",
    )
    assert "k-123" not in repr(options.settings)
    lines = voice_lines(options.settings)
    assert lines[0].startswith("  voice: ") and lines[1] == "  brain: qwen3 at http://127.0.0.1:11434/v1"
    flagged = resolve_options(config, upstream="local", llm_model="llama3", env={})
    assert flagged.settings.sim.llm is not None and flagged.settings.sim.llm.model == "llama3"


async def test_streamed_text_is_spoken_in_phrases_at_punctuation() -> None:
    from mcp_voice.sim.speaking import phrases

    async def deltas() -> Any:
        for piece in ["Hello ", "there. The", " weather, ", "in Oslo", " is cold"]:
            yield piece

    assert [p async for p in phrases(deltas())] == ["Hello there. ", "The weather, ", "in Oslo is cold"]


def test_serve_voice_tone_keeps_the_tone_and_says_so() -> None:
    from mcp_voice.config import parse_config
    from mcp_voice.serve.run import resolve_options, voice_lines

    options = resolve_options(parse_config({"serve": {"voice": "tone"}}), upstream="sim", env={})
    assert options.settings.sim.speech is None
    assert voice_lines(options.settings) == [
        "  voice: a tone, no hearing (the voice extra speaks and hears: pip install 'mcp-voice[voice]')"
    ]
    assert (
        voice_lines(resolve_options(parse_config({}), upstream="ws://127.0.0.1:9/v1", env={}).settings) == []
    )


def test_serve_local_without_a_model_is_refused_with_what_to_pass(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcp_voice.cli import main

    monkeypatch.setenv("MCP_VOICE_CONFIG", "")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["serve", "--port", "0", "--upstream", "local", "--llm-url", "http://127.0.0.1:9/v1"]) != 0
    assert "--llm-url URL --llm-model NAME" in capsys.readouterr().err
