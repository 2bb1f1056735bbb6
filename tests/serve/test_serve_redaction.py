"""No secret in any log line: a real `mcp-voice serve --log-level debug`, every credential used."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import websockets
from conftest import FakeUpstream, read_all, serve_process, write_config
from test_serve_keys import bearer, http, until

from mcp_voice.serve import redact

pytestmark = pytest.mark.anyio

API_KEY = "apikey-RED-91c3d2"
TOKEN = "token-RED-55ab17"
UPSTREAM_KEY = "sk-upstreamRED-0f0f0f0f"


async def test_a_debug_session_logs_no_secret(tmp_path: Path, fake_upstream: FakeUpstream) -> None:
    config = write_config(tmp_path)
    env = {"MCP_VOICE_API_KEYS": API_KEY, "MCP_VOICE_TOKEN": TOKEN, "UPKEY": UPSTREAM_KEY}
    args = ["--config", str(config), "--port", "0", "--log-level", "debug"]
    args += ["--upstream", fake_upstream.url, "--upstream-key-env", "UPKEY"]
    async with serve_process(*args, env=env) as (process, line):
        assert "listening on" in line, line
        where = line.split("ws://")[1].split("/")[0]
        refused, _ = await http("GET", f"http://{where}/metrics?token={API_KEY}")  # logged masked, if at all
        assert refused == 401
        _, text = await http(
            "POST",
            f"http://{where}/v1/realtime/client_secrets",
            {"session": {"instructions": "hi"}},
            bearer(API_KEY),
        )
        secret = json.loads(text)["value"]
        attempts: list[dict[str, Any]] = [
            {"uri": f"ws://{where}/v1/realtime?token={API_KEY}"},
            {"uri": f"ws://{where}/v1/realtime", "additional_headers": bearer(TOKEN)},
            {
                "uri": f"ws://{where}/v1/realtime",
                "subprotocols": ["realtime", f"openai-insecure-api-key.{secret}"],
            },
            {"uri": f"ws://{where}/v1/realtime?model=gpt-realtime&token={secret}"},
        ]
        for attempt in attempts:
            uri = attempt.pop("uri")
            async with websockets.connect(uri, **attempt) as ws:
                await until(ws, "session.created")
                await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": ""}))
        # and refused ones
        for wrong in ("wrong-key-abcdef", "ek_wrongsecretvalue12345"):
            with pytest.raises(websockets.InvalidStatus):
                await websockets.connect(f"ws://{where}/v1/realtime?token={wrong}")
        await http("GET", f"http://{where}/metrics", headers=bearer(API_KEY))
        process.terminate()
        with anyio.fail_after(30):
            await process.wait()
        log = await read_all(process.stderr)
    assert (
        fake_upstream.requests and fake_upstream.requests[0][1]["authorization"] == f"Bearer {UPSTREAM_KEY}"
    )
    assert "< GET /v1/realtime" in log and "session started" in log and "session ended" in log, log[-3000:]
    for value in (
        API_KEY,
        TOKEN,
        UPSTREAM_KEY,
        secret,
        secret[3:],
        "wrong-key-abcdef",
        "wrongsecretvalue12345",
    ):
        assert value not in log, f"{value!r} leaked into the log"


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ('127.0.0.1:5 - "WebSocket /v1/realtime?model=m&token=abcdef123" [accepted]', "model=m&token=***"),
        ("> Authorization: Bearer abc.def-ghi", "Bearer ***"),
        ("(b'authorization', b'Bearer xyz123')", "Bearer ***"),
        (
            "> Sec-WebSocket-Protocol: realtime, openai-insecure-api-key.sekrit9",
            "openai-insecure-api-key.***",
        ),
        ("secret ek_AbCdEf0123456789xyz minted", "ek_***"),
        ("key sk-proj-abcdefghijkl", "sk-***"),
    ],
)
def test_credential_shapes_are_masked(line: str, kept: str) -> None:
    assert kept in redact.redact(line)


@pytest.fixture
def installed() -> Iterator[None]:
    """Redaction installed for one test, then the process's logging as it was."""
    previous = logging.getLogRecordFactory()
    redact.install(["plain-known-secret"])
    yield
    logging.setLogRecordFactory(previous)
    redact._installed = False
    redact._known.discard("plain-known-secret")


@pytest.mark.usefixtures("installed")
def test_installed_redaction_covers_every_logger_and_known_values(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("some.library").debug("connecting with %s", {"key": "plain-known-secret"})
        try:
            raise ValueError("bad token=zzz999 in url")
        except ValueError:
            logging.getLogger("uvicorn.error").exception("failed")
    assert "plain-known-secret" not in caplog.text and "zzz999" not in caplog.text
    assert "connecting with" in caplog.text and "token=***" in caplog.text
