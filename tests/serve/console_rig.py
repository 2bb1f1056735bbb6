"""The rig of the console tests: serve in-process on loopback, and Debian's Chromium driven by Playwright.

The browser gets a fake microphone that plays a WAV the rig writes: speech-like bursts (a
voiced tone with harmonics and a syllable rhythm) between silences, at 48 kHz, so that the page
resamples to 24 kHz and the simulator's VAD hears turns. Chromium loops the file, so a second
burst arrives while the reply plays: a barge-in.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
from mcp.server import MCPServer

from mcp_voice.serve.app import create_app
from mcp_voice.serve.run import bind_socket, running
from mcp_voice.serve.settings import ServeSettings
from mcp_voice.tools.registry import ToolRegistry
from mcp_voice.tools.spec import ServerSpec

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
AXE = REPO / "tests" / "clients" / "node_modules" / "axe-core" / "axe.min.js"
WAIT_MS = 20_000
FLAGS = [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--autoplay-policy=no-user-gesture-required",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
PNG_1PX = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2256ff50000000049454e44ae426082"
    )
).decode()

tools = MCPServer("consoletools")


@tools.tool()
async def lookup(city: str) -> str:
    """Current weather in a city."""
    return f"sunny in {city}, 21 degrees"


@tools.tool()
async def slow_report(topic: str) -> str:
    """A report that takes a while to prepare."""
    await anyio.sleep(1.5)  # long enough for the page to show it running
    return f"report on {topic}: all systems nominal"


@tools.tool()
async def delete_note(name: str) -> str:
    """Delete a note (needs the user's approval)."""
    return f"deleted note {name}"


@tools.tool()
async def chart(title: str) -> str:
    """A chart, as JSON text holding MCP image content (the host hands the model `ImageContent`
    as a hidden image message, so a client sees images only when the output text carries them)."""
    return json.dumps(
        {"title": title, "content": [{"type": "image", "data": PNG_1PX, "mimeType": "image/png"}]}
    )


def console_specs(**policy: Any) -> list[ServerSpec]:
    return [
        ServerSpec(
            name="ct", target=tools, long_running=("slow_report",), approval=("delete_note",), **policy
        )
    ]


def speech_wav(path: Path, *, rate: int = 48_000, speech_s: float = 0.9, silence_s: float = 1.6) -> Path:
    """A loopable WAV: 0.3 s quiet, `speech_s` of voiced "speech", `silence_s` quiet."""
    rng = np.random.default_rng(7)
    t = np.arange(int(rate * speech_s)) / rate
    pitch = 130 + 20 * np.sin(2 * np.pi * 1.3 * t)  # intonation
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    syllables = 0.55 + 0.45 * np.sin(2 * np.pi * 4.0 * t) ** 2  # about four syllables a second
    edge = np.minimum(1.0, np.minimum(t, speech_s - t) / 0.03)
    speech = voiced * syllables * edge + 0.05 * rng.standard_normal(t.size)
    speech = 0.3 * speech / np.max(np.abs(speech))
    quiet = lambda s: 0.0005 * rng.standard_normal(int(rate * s))  # noqa: E731
    samples = np.concatenate([quiet(0.3), speech, quiet(silence_s)])
    pcm = (samples * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


@dataclass
class Handshakes:
    """What each WebSocket handshake to the relay offered: subprotocols, query, headers."""

    seen: list[dict[str, Any]] = field(default_factory=list)

    def wrap(self, app: Any) -> Any:
        async def recording(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "websocket":
                self.seen.append(
                    {
                        "subprotocols": list(scope.get("subprotocols") or []),
                        "query": scope.get("query_string", b"").decode(),
                        "headers": {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])},
                    }
                )
            await app(scope, receive, send)

        return recording


@dataclass
class Served:
    url: str
    handshakes: Handshakes
    event_log_dir: Path | None

    def upstream_events(self) -> list[dict[str, Any]]:
        """Every event serve sent upstream, from the session event logs, with its time (unix s)."""
        found = []
        for path in sorted((self.event_log_dir or Path("/nonexistent")).glob("*.jsonl")):
            for line in path.read_text().splitlines():
                record = json.loads(line)
                if record.get("dir") == "to_upstream":
                    found.append({**record["event"], "_t": record["t"]})
        return found


@asynccontextmanager
async def console_server(
    settings: ServeSettings | None = None, *, specs: list[ServerSpec] | None = None, **kw: Any
) -> AsyncIterator[Served]:
    settings = settings or ServeSettings()
    async with ToolRegistry(specs or console_specs()) as registry:
        handshakes = Handshakes()
        app = create_app(registry, settings, **kw)
        sock = bind_socket("127.0.0.1", 0)
        wrapped = handshakes.wrap(app)
        wrapped.state = app.state  # so `running` finds the endpoint to shut down
        async with running(wrapped, sock):
            log_dir = Path(settings.event_log_dir) if settings.event_log_dir else None
            yield Served(f"http://127.0.0.1:{sock.getsockname()[1]}", handshakes, log_dir)


def need_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (.ci/run installs it)")


@asynccontextmanager
async def browser(
    wav: Path | None = None, *, bypass_csp: bool = False, width: int = 1280, height: int = 900
) -> AsyncIterator[Any]:
    """A fresh Chromium page (its console errors collected on `page.errors`)."""
    need_chromium()
    from playwright.async_api import async_playwright

    flags = [*FLAGS]
    if wav is not None:
        flags.append(f"--use-file-for-fake-audio-capture={wav}")
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=flags, headless=True)
        try:
            context = await chromium.new_context(
                viewport={"width": width, "height": height}, bypass_csp=bypass_csp
            )
            page = await context.new_page()
            page.errors = []  # type: ignore[attr-defined]
            page.on("pageerror", lambda exc: page.errors.append(str(exc)))
            page.on(
                "console",
                lambda msg: page.errors.append(msg.text) if msg.type == "error" else None,
            )
            yield page
        finally:
            await chromium.close()


async def eventually(check: Callable[[], Awaitable[Any]], timeout_s: float = WAIT_MS / 1000) -> Any:
    """Poll `check` until it returns something truthy (Playwright's events and serve's log files
    have nothing to wait on)."""
    with anyio.fail_after(timeout_s):
        for _ in itertools.count():
            if value := await check():
                return value
            await anyio.sleep(0.05)
    raise AssertionError("unreachable")


async def until(page: Any, expression: str, timeout_s: float = WAIT_MS / 1000) -> Any:
    """Poll a JS expression until truthy (`wait_for_function` evaluates strings, which the CSP forbids)."""
    return await eventually(lambda: page.evaluate(expression), timeout_s)


async def connected(page: Any) -> None:
    await page.wait_for_selector('#status[data-state="connected"]', timeout=WAIT_MS)


async def say(page: Any, text: str) -> None:
    await page.fill("#text", text)
    await page.press("#text", "Enter")


def artefacts() -> Path:
    """Where screenshots go: $MCP_VOICE_ARTEFACTS, else a directory under the system tmp."""
    base = Path(os.environ.get("MCP_VOICE_ARTEFACTS") or "/tmp/mcp-voice-console-artefacts")
    base.mkdir(parents=True, exist_ok=True)
    return base


async def screenshot(page: Any, name: str) -> Path:
    path = artefacts() / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
