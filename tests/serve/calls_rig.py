"""The rig of the OpenAI calls tests: serve (in-process, on loopback) wired to a fake OpenAI.

`rig()` starts the fake, loads the test tools and plugins, and serves the app with the calls
settings pointing at the fake; a test rings (`Rig.ring`) and plays the model on the sideband.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
from mcp.server import MCPServer
from mcp.server.mcpserver import Context

from mcp_voice.api import load_tools
from mcp_voice.config import Config
from mcp_voice.hookspecs import hookimpl
from mcp_voice.serve.app import create_app
from mcp_voice.serve.openai_calls import CallsSettings
from mcp_voice.serve.openai_calls.webhooks import secret_key
from mcp_voice.serve.run import bind_socket, running
from mcp_voice.serve.settings import ServeSettings
from mcp_voice.session.context import META_CALL, CallContext
from mcp_voice.session.decision import CallDecision
from mcp_voice.tools.spec import ServerSpec
from tests.serve.fake_openai import API_KEY, SECRET, FakeCall, FakeOpenAI, fake_openai

WAIT_S = 15.0
CALLER = '"Ada" <sip:+15550100@pstn.example.com>;tag=abc'


@dataclass
class Gate:
    started: anyio.Event = field(default_factory=anyio.Event)
    release: anyio.Event = field(default_factory=anyio.Event)
    cancelled: anyio.Event = field(default_factory=anyio.Event)


class CallTools:
    """A plugin with the tools the model calls: a quick one, a long-running one, one that shows `_meta`."""

    name = "calltools"

    def __init__(self) -> None:
        self.gate = Gate()
        server = MCPServer("calls", log_level="WARNING")

        @server.tool(description="Current weather in a city.")
        async def lookup(city: str) -> str:
            return f"sunny in {city}"

        @server.tool(description="Who is calling?")
        async def whoami(ctx: Context) -> str:
            return json.dumps(dict(ctx.request_context.meta or {}).get(META_CALL))

        @server.tool(description="A slow report.")
        async def report(topic: str) -> str:
            self.gate.started.set()
            try:
                await self.gate.release.wait()
            except anyio.get_cancelled_exc_class():
                self.gate.cancelled.set()
                raise
            return f"report on {topic}: done"

        self.server = server

    @hookimpl
    def register_servers(self, register: Any) -> None:
        register(ServerSpec(name="calls", target=self.server, long_running=("report",)))


class Watcher:
    """Session hooks, and the call decision when `decision` is set."""

    name = "watcher"

    def __init__(self, decision: CallDecision | None = None) -> None:
        self.decision = decision
        self.rung: list[CallContext] = []
        self.started: list[CallContext] = []
        self.ended: list[tuple[CallContext, str]] = []
        self.gone = anyio.Event()

    @hookimpl
    def incoming_call(self, context: CallContext) -> CallDecision | None:
        self.rung.append(context)
        return self.decision

    @hookimpl
    def session_started(self, context: CallContext) -> None:
        self.started.append(context)

    @hookimpl
    def session_ended(self, context: CallContext, reason: str) -> None:
        self.ended.append((context, reason))
        self.gone.set()


@dataclass
class Rig:
    fake: FakeOpenAI
    url: str
    tools: CallTools
    watcher: Watcher
    app: Any = None

    async def ring(self, call_id: str, **kw: Any) -> httpx2.Response:
        return await self.fake.ring(
            self.url,
            call_id,
            {"From": CALLER, "To": "<sip:+15550199@sip.api.openai.com>", "X-Account": "42"},
            **kw,
        )


def calls_settings(fake: FakeOpenAI, **kw: Any) -> CallsSettings:
    values: dict[str, Any] = {
        "webhook_key": secret_key(SECRET),
        "api_key": API_KEY,
        "rest_base": fake.rest_base,
        "ws_base": fake.ws_base,
        "instructions": "You answer the phone for Example Ltd.",
        "voice": "marin",
        **kw,
    }
    return CallsSettings(**values)


@asynccontextmanager
async def rig(
    *,
    decision: CallDecision | None = None,
    config: Config | Callable[[FakeOpenAI], Config] | None = None,
    plugins: tuple[str, ...] = (),
    token: str | None = None,
    max_sessions: int | None = 1000,
    **calls: Any,
) -> AsyncIterator[Rig]:
    tools, watcher = CallTools(), Watcher(decision)
    async with fake_openai() as fake:
        loaded = config(fake) if callable(config) else config or Config()
        setup = load_tools(loaded, plugins=list(plugins), extra_plugins=[tools, watcher])
        assert not setup.errors, setup.errors
        async with setup.registry() as registry:
            settings = ServeSettings(
                upstream="sim", token=token, calls=calls_settings(fake, **calls), max_sessions=max_sessions
            )
            app = create_app(registry, settings, observer=setup.session_observer())
            sock = bind_socket("127.0.0.1", 0)
            async with running(app, sock):
                yield Rig(fake, f"http://127.0.0.1:{sock.getsockname()[1]}", tools, watcher, app)
                for call in fake.calls.values():  # hang up, so serve has no call to wait for on shutdown
                    await call.end()


async def accepted(r: Rig, call_id: str) -> Any:
    """Ring, and wait until serve accepted the call and attached its sideband."""
    response = await r.ring(call_id)
    assert response.status_code == 200, response.text
    accept = await r.fake.wait_request("accept")
    call = r.fake.calls[call_id]
    with anyio.fail_after(WAIT_S):
        await call.connected.wait()
    await call.next("session.update")  # the host announces its tools first
    return accept


async def attached(r: Rig, call_id: str) -> FakeCall:
    """An accepted call's fake, once its sideband is attached."""
    await accepted(r, call_id)
    return r.fake.calls[call_id]
