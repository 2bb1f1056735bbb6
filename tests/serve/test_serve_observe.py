"""Observability at the wire: structured log lines, /metrics after real sessions, the JSONL event log."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
import websockets
from conftest import http_get, serving
from test_serve_wire import instant_sim, until, user_text

from mcp_voice.channels import EventChannel, channel_pair
from mcp_voice.serve.observe import ServeMetrics
from mcp_voice.serve.settings import ServeSettings

pytestmark = pytest.mark.anyio

AUDIO = "QUJD" * 2000  # 8,000 base64 characters of "audio"


async def tool_turn(ws: websockets.ClientConnection) -> None:
    """Ask the simulator to call testtools__lookup and wait for the reply to its result."""
    await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": AUDIO}))
    await ws.send(json.dumps({"type": "input_audio_buffer.clear"}))
    await ws.send(user_text('testtools__lookup {"city": "Paris"}'))
    await ws.send(json.dumps({"type": "response.create"}))
    while True:
        done = await until(ws, "response.done")
        if not any(item.get("type") == "function_call" for item in done["response"]["output"]):
            return


async def metrics_text(where: str) -> str:
    with anyio.fail_after(20):
        while True:  # the session's end is recorded as the socket closes: wait for it
            _, text = await http_get(f"http://{where}/metrics")
            if "mcp_voice_sessions_active 0.0" in text:
                return text
            await anyio.sleep(0.05)


async def test_a_tool_session_is_logged_counted_and_recorded(
    registry: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = ServeSettings(upstream="sim", event_log_dir=str(tmp_path / "events"))
    with caplog.at_level(logging.INFO, logger="mcp_voice"):
        async with serving(registry, settings, upstream=instant_sim) as where:
            async with websockets.connect(f"ws://{where}/v1/realtime") as ws:
                await until(ws, "session.created")
                await tool_turn(ws)
            text = await metrics_text(where)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("mcp_voice.serve")]
    started = [line for line in lines if line.startswith("session started ")]
    ended = [line for line in lines if line.startswith("session ended ")]
    calls = [line for line in lines if line.startswith("tool call ")]
    assert len(started) == 1 and "transport=relay" in started[0]
    assert len(ended) == 1 and "duration_s=" in ended[0] and "reason=" in ended[0]
    assert len(calls) == 1, lines
    call = calls[0]
    assert "tool=testtools__lookup" in call and "outcome=ok" in call and "duration_ms=" in call
    assert f"bytes={len('sunny in Paris, 21 degrees')}" in call  # the result the model got
    assert "Paris" not in call and "sunny" not in call  # neither arguments nor results by default
    session_id = started[0].split("session_id=")[1].split()[0]
    assert f"session_id={session_id}" in call

    assert 'mcp_voice_tool_calls_total{outcome="ok",tool="testtools__lookup"} 1.0' in text
    assert 'mcp_voice_tool_call_duration_seconds_count{outcome="ok",tool="testtools__lookup"} 1.0' in text
    assert 'mcp_voice_sessions_total{transport="relay"} 1.0' in text
    assert 'mcp_voice_tokens_total{kind="output"}' in text and 'mcp_voice_tokens_total{kind="input"}' in text

    log_file = tmp_path / "events" / f"{session_id}.jsonl"
    records = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert records[0]["session"]["session_id"] == session_id
    directions = {r["dir"] for r in records[1:]}
    assert directions == {"from_client", "to_client", "from_upstream", "to_upstream"}
    appends = [r for r in records[1:] if r["event"].get("type") == "input_audio_buffer.append"]
    assert appends and all(r["event"]["audio"] == "<8000 bytes of audio elided>" for r in appends)
    assert AUDIO not in log_file.read_text()
    outputs = [r for r in records if r.get("event", {}).get("item", {}).get("type") == "function_call_output"]
    assert outputs and outputs[0]["dir"] == "to_upstream"


async def test_tool_io_is_logged_only_when_asked(registry: Any, caplog: pytest.LogCaptureFixture) -> None:
    settings = ServeSettings(upstream="sim", log_tool_io=True)
    with caplog.at_level(logging.INFO, logger="mcp_voice"):
        async with serving(registry, settings, upstream=instant_sim) as where:
            async with websockets.connect(f"ws://{where}/v1/realtime") as ws:
                await until(ws, "session.created")
                await tool_turn(ws)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "Paris" in text and "sunny in Paris" in text


async def test_the_event_log_stops_at_its_cap(registry: Any, tmp_path: Path) -> None:
    settings = ServeSettings(upstream="sim", event_log_dir=str(tmp_path), event_log_max_bytes=4000)
    async with serving(registry, settings, upstream=instant_sim) as where:
        async with websockets.connect(f"ws://{where}/v1/realtime") as ws:
            await until(ws, "session.created")
            for n in range(40):  # within the per-session event rate (50/s, bursts of 100)
                await ws.send(user_text(f"say: message number {n}"))
            await ws.send(json.dumps({"type": "response.create"}))
            await until(ws, "response.done")
    (name,) = [n for n in os.listdir(tmp_path) if n.endswith(".jsonl")]
    log_file = tmp_path / name
    data = log_file.read_bytes()
    assert data.endswith(b'{"truncated": true}\n')
    assert len(data) <= 4000 + len(b'{"truncated": true}\n')


@asynccontextmanager
async def scripted_upstream(target: str, **kw: Any) -> AsyncIterator[EventChannel]:
    """An upstream that reports rate limits and a response's token usage, then stays quiet."""
    ours, theirs = channel_pair()
    await theirs.send({"type": "session.created", "session": {"type": "realtime", "id": "sess_x"}})
    limits = [
        {"name": "requests", "limit": 1000, "remaining": 998, "reset_seconds": 1.5},
        {"name": "tokens", "limit": 50000, "remaining": 41234, "reset_seconds": 4},
    ]
    await theirs.send({"type": "rate_limits.updated", "rate_limits": limits})
    usage = {"total_tokens": 70, "input_tokens": 50, "output_tokens": 20}
    response = {"id": "resp_1", "status": "completed", "output": [], "usage": usage}
    await theirs.send({"type": "response.created", "response": {**response, "status": "in_progress"}})
    await theirs.send({"type": "response.done", "response": response})
    try:
        yield ours
    finally:
        await theirs.aclose()


async def test_metrics_show_rate_limits_and_token_usage(registry: Any) -> None:
    async with serving(registry, ServeSettings(upstream="sim"), upstream=scripted_upstream) as where:
        async with websockets.connect(f"ws://{where}/v1/realtime") as ws:
            await until(ws, "response.done")
        text = await metrics_text(where)
    assert 'mcp_voice_rate_limit_remaining{name="tokens"} 41234.0' in text
    assert 'mcp_voice_rate_limit_limit{name="requests"} 1000.0' in text
    assert 'mcp_voice_tokens_total{kind="input"} 50.0' in text
    assert 'mcp_voice_tokens_total{kind="output"} 20.0' in text
    assert "# TYPE mcp_voice_reconnects_total counter" in text


def test_reconnects_are_counted_by_reason() -> None:
    """The reconnecting upstream wrapper reports each reconnect through `record_reconnect`."""
    metrics = ServeMetrics()
    metrics.record_reconnect("upstream_closed")
    metrics.record_reconnect("upstream_closed")
    assert 'mcp_voice_reconnects_total{reason="upstream_closed"} 2.0' in metrics.render().decode()
