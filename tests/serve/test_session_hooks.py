"""Plugin session hooks through a real serve session: started with the relay context, ended with a reason."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
import websockets
from conftest import serving

from mcp_voice.api import load_tools
from mcp_voice.config import Config
from mcp_voice.hookspecs import hookimpl
from mcp_voice.serve.settings import ServeSettings
from mcp_voice.session.context import CallContext

pytestmark = pytest.mark.anyio


class SessionWatcher:
    def __init__(self) -> None:
        self.started: list[CallContext] = []
        self.ended: list[tuple[CallContext, str]] = []
        self.gone = anyio.Event()

    @hookimpl
    def session_started(self, context: CallContext) -> None:
        self.started.append(context)

    @hookimpl
    def session_ended(self, context: CallContext, reason: str) -> None:
        self.ended.append((context, reason))
        self.gone.set()


class Broken:
    @hookimpl
    def session_started(self, context: CallContext) -> None:
        raise RuntimeError("plugin bug")


async def _one_session(registry: Any, *plugins: object) -> None:
    setup = load_tools(Config(), plugins=[], extra_plugins=plugins)
    observer = setup.session_observer()
    async with serving(registry, ServeSettings(upstream="sim"), observer=observer) as where:
        async with websockets.connect(f"ws://{where}/v1/realtime?model=gpt-realtime") as ws:
            with anyio.fail_after(10):
                event = json.loads(await ws.recv())
            assert event["type"] == "session.created"


async def test_hook_session_started(registry: Any) -> None:
    watcher = SessionWatcher()
    await _one_session(registry, watcher, Broken())  # a failing plugin does not stop the session
    assert len(watcher.started) == 1
    context = watcher.started[0]
    assert context.transport == "relay" and context.session_id.startswith("sess_")


async def test_hook_session_ended(registry: Any) -> None:
    watcher = SessionWatcher()
    await _one_session(registry, watcher)
    with anyio.fail_after(10):
        await watcher.gone.wait()
    [(context, reason)] = watcher.ended
    assert context is watcher.started[0]
    assert reason
