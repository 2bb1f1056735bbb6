"""`mcp-voice serve` as a real subprocess: the listening line, refusals, key handling, shutdown."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import anyio
import pytest
import websockets
from conftest import FakeUpstream, http_get, read_all, serve_process, write_config

pytestmark = pytest.mark.anyio

LINE = re.compile(r"^mcp-voice listening on ws://127\.0\.0\.1:(\d+)/v1/realtime \(upstream: (\S+)\)\n$")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
async def test_port_zero_prints_the_real_port_and_serves(tmp_path: Path, stop: signal.Signals) -> None:
    config = write_config(tmp_path)
    async with serve_process("--port", "0", "--upstream", "sim", "--config", str(config)) as (proc, line):
        match = LINE.match(line)
        assert match, line
        port = int(match.group(1))
        assert port != 0 and match.group(2) == "sim"
        async with websockets.connect(f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime") as ws:
            with anyio.fail_after(20):
                assert json.loads(await ws.recv())["type"] == "session.created"
        status, body = await http_get(f"http://127.0.0.1:{port}/healthz")
        assert status == 200 and json.loads(body)["tools"] == 2
        assert json.loads(body)["status"] == "ok"
        proc.send_signal(stop)
        with anyio.fail_after(30):
            assert await proc.wait() == 0


async def test_a_plugin_that_failed_to_load_makes_healthz_degraded(tmp_path: Path) -> None:
    """A typo in a plugin's table: serve still starts, but says which plugin is missing and why."""
    config = write_config(tmp_path, "[plugins.filesystem]\nwriteable = true\n")
    env = {"MCP_VOICE_PLUGINS": "filesystem"}
    async with serve_process("--port", "0", "--config", str(config), env=env) as (proc, line):
        port = int(LINE.match(line).group(1))  # type: ignore[union-attr]
        status, body = await http_get(f"http://127.0.0.1:{port}/healthz")
        health = json.loads(body)
        assert status == 200 and health["status"] == "degraded"
        assert health["failed_plugins"] == ["filesystem"] and health["tools"] == 2
        proc.terminate()
        err = await read_all(proc.stderr)
    assert "plugins.filesystem.writeable" in err and "did you mean 'writable'" in err


async def test_beyond_loopback_without_token_refuses_to_start(tmp_path: Path) -> None:
    async with serve_process("--host", "0.0.0.0", "--port", "0", "--upstream", "sim") as (proc, line):
        err = await read_all(proc.stderr)
        with anyio.fail_after(30):
            code = await proc.wait()
    assert code != 0
    assert line == ""
    assert "without API keys" in err and "MCP_VOICE_API_KEYS" in err and "--insecure" in err


async def test_openai_key_is_not_sent_to_a_url_upstream(tmp_path: Path, fake_upstream: FakeUpstream) -> None:
    env = {"OPENAI_API_KEY": "sk-never-leaves-9d3b"}
    args = ("--port", "0", "--upstream", fake_upstream.url, "--config", str(write_config(tmp_path)))
    async with serve_process(*args, env=env) as (_, line):
        port = int(LINE.match(line).group(1))  # type: ignore[union-attr]
        headers = {"Authorization": "Bearer client-secret-1b2c"}
        async with websockets.connect(f"ws://127.0.0.1:{port}/v1/realtime", additional_headers=headers) as ws:
            with anyio.fail_after(20):
                first = await ws.recv()
        _, health = await http_get(f"http://127.0.0.1:{port}/healthz")
    [(path, sent)] = fake_upstream.requests
    assert path == "/v1/realtime?model=gpt-realtime"
    assert "authorization" not in sent
    assert "client-secret-1b2c" not in json.dumps(sent)
    assert "sk-never-leaves" not in str(first) + health + line


async def test_token_from_environment_guards_a_served_endpoint(tmp_path: Path) -> None:
    env = {"MCP_VOICE_TOKEN": "tok-77"}
    async with serve_process("--port", "0", "--upstream", "sim", env=env) as (_, line):
        port = int(LINE.match(line).group(1))  # type: ignore[union-attr]
        url = f"ws://127.0.0.1:{port}/v1/realtime"
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(url):
                pass
        async with websockets.connect(url, additional_headers={"Authorization": "Bearer tok-77"}) as ws:
            with anyio.fail_after(20):
                assert json.loads(await ws.recv())["type"] == "session.created"


async def test_insecure_warns_on_every_start() -> None:
    async with serve_process("--port", "0", "--upstream", "sim", "--insecure") as (proc, line):
        assert "listening on" in line
        proc.terminate()
        with anyio.fail_after(30):
            await proc.wait()
        err = await read_all(proc.stderr)
    assert "--insecure" in err and "WITHOUT API keys" in err


def test_options_take_api_keys_and_observe_settings_from_config(tmp_path: Path) -> None:
    from mcp_voice.config import parse_config
    from mcp_voice.serve.run import resolve_options

    config = parse_config(
        {
            "serve": {"host": "0.0.0.0", "api_keys_env": "MY_KEYS"},
            "observe": {"log_tool_io": True, "event_log_dir": "events", "event_log_max_bytes": 5000},
            "session": {"client_server_urls": ["https://mcp.example.com/*"]},
        },
        source=tmp_path / "mcp-voice.toml",
    )
    options = resolve_options(config, upstream="sim", env={"MY_KEYS": "k-one,k-two", "MCP_VOICE_TOKEN": "t"})
    assert options.settings.api_keys == ("k-one", "k-two", "t")
    assert options.settings.log_tool_io is True and options.settings.event_log_max_bytes == 5000
    assert options.settings.event_log_dir == str(tmp_path / "events")
    assert options.settings.host.client_server_urls == ["https://mcp.example.com/*"]
    assert "k-one" not in repr(options.settings)
