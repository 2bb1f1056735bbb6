"""open_upstream: URL handling and errors without the network; real connections to the simulator."""

from __future__ import annotations

import anyio
import pytest

from mcp_voice.channels import ChannelClosed
from mcp_voice.protocol.upstream import UpstreamError, resolve_target, with_model
from mcp_voice.sim import SimConfig, run_simulator
from mcp_voice.upstreams import open_upstream


def test_with_model_appends_only_when_missing() -> None:
    assert with_model("ws://h:1/v1/realtime", "m") == "ws://h:1/v1/realtime?model=m"
    assert with_model("ws://h/v1/realtime?x=1", "m") == "ws://h/v1/realtime?x=1&model=m"
    assert with_model("wss://h/v1/realtime?model=other", "m") == "wss://h/v1/realtime?model=other"


def test_resolve_targets() -> None:
    url, headers = resolve_target("openai", "gpt-realtime", "sk-1")
    assert url == "wss://api.openai.com/v1/realtime?model=gpt-realtime"
    assert headers == {"Authorization": "Bearer sk-1"}
    assert resolve_target("ws://127.0.0.1:9/v1/realtime", "m", None) == (
        "ws://127.0.0.1:9/v1/realtime?model=m",
        {},
    )
    with pytest.raises(UpstreamError, match="API key"):
        resolve_target("openai", "m", None)
    with pytest.raises(UpstreamError, match="unknown upstream"):
        resolve_target("http://example.com", "m", None)


@pytest.mark.anyio
async def test_openai_without_key_fails_before_any_network() -> None:
    with pytest.raises(UpstreamError, match="API key"):
        async with open_upstream("openai", model="gpt-realtime"):
            pass


@pytest.mark.anyio
async def test_url_target_gets_model_and_key_and_closes_as_channel_closed() -> None:
    async with run_simulator(config=SimConfig(speed=0, api_key="secret")) as sim:
        async with open_upstream(
            sim.url, model="gpt-x", api_key="secret", extra_headers={"X-Test": "1"}
        ) as up:
            with anyio.fail_after(10):
                created = await up.receive()
            assert isinstance(created, dict) and created["session"]["model"] == "gpt-x"
            big = "A" * (4 * 2**20)  # 3 MiB of audio in one append: well within the limits
            await up.send({"type": "input_audio_buffer.append", "audio": big})
            await up.send({"type": "input_audio_buffer.clear"})
            with anyio.fail_after(10):
                while (await up.receive())["type"] != "input_audio_buffer.cleared":  # type: ignore[index]
                    pass
            await up.aclose()
            with pytest.raises(ChannelClosed):
                await up.receive()
            with pytest.raises(ChannelClosed):
                await up.send({"type": "response.cancel"})


@pytest.mark.anyio
async def test_simulator_closing_surfaces_as_channel_closed() -> None:
    async with run_simulator(config=SimConfig(speed=0)) as sim:
        async with open_upstream(sim.url, model="m") as up:
            with anyio.fail_after(10):
                await up.receive()
            assert sim.server is not None
            sim.server.close()
            with anyio.fail_after(10), pytest.raises(ChannelClosed):
                while True:
                    await up.receive()
