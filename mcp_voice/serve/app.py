"""The Starlette app: the relay WebSocket at /v1/realtime, /healthz, and the routes beside them.

It only assembles: the relay endpoint (`realtime.py`), phone calls (`twilio/`), OpenAI calls
(`openai_calls/`), client secrets, metrics and the web console (`console.py`), all over one
`ServeSettings` (`settings.py`), one state store (`state/`), `/readyz` (`readiness.py`) and the
drain guard (`drain.py`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from mcp_voice.serve.bodylimit import BodyLimit
from mcp_voice.serve.client_secrets import SecretStore
from mcp_voice.serve.console import console_routes
from mcp_voice.serve.deny import websocket_not_found
from mcp_voice.serve.drain import Drain, DrainGuard
from mcp_voice.serve.keys import Authenticator
from mcp_voice.serve.observe import ServeMetrics, metrics_routes
from mcp_voice.serve.openai_calls import CallOwnership, openai_call_routes
from mcp_voice.serve.origin import HostPolicy, OriginGuard
from mcp_voice.serve.readiness import readiness_route
from mcp_voice.serve.realtime import RealtimeEndpoint
from mcp_voice.serve.secret_routes import secret_routes
from mcp_voice.serve.settings import ServeSettings, UpstreamOpener
from mcp_voice.serve.slots import SessionSlots
from mcp_voice.serve.state import StateStore, open_state
from mcp_voice.serve.targets import display_name
from mcp_voice.serve.twilio import twilio_routes
from mcp_voice.session.context import SessionObserver
from mcp_voice.tools.registry import ToolRegistry
from mcp_voice.upstreams import open_upstream

__all__ = ["RealtimeEndpoint", "ServeSettings", "UpstreamOpener", "create_app"]


def create_app(
    registry: ToolRegistry,
    settings: ServeSettings | None = None,
    *,
    upstream: UpstreamOpener | None = None,
    load_errors: Mapping[str, str] | None = None,
    observer: SessionObserver | None = None,
    secret_store: SecretStore | None = None,
    state: StateStore | None = None,
) -> Starlette:
    """The serve app over a started registry shared by every session (embed it, or let `run` serve it).

    `load_errors` (plugin or config entry -> message) are the tools that could not be loaded: the
    process serves without them, and /healthz says so instead of looking healthy. `observer` hears
    each session start and end (`ToolSetup.session_observer()` runs the plugins' session hooks).
    `state` holds what spans processes (default: the store `settings.state` names; the app's
    owner closes it, see `run.py`); `secret_store` overrides where its client secrets live.
    """
    settings = settings or ServeSettings()
    state = state if state is not None else open_state(settings.state)
    upstream = upstream or functools.partial(open_upstream, sim_config=settings.sim)
    keys = (*settings.api_keys, *((settings.token,) if settings.token else ()))
    authenticator = Authenticator(keys, secret_store if secret_store is not None else state.secrets)
    metrics = ServeMetrics(registry, log_tool_io=settings.log_tool_io)
    slots = SessionSlots(settings.max_sessions)  # one count for every transport
    endpoint = RealtimeEndpoint(registry, settings, upstream, observer, metrics, slots)
    failed_plugins = sorted(load_errors or {})
    drain = Drain(settings.drain_s)
    ownership = CallOwnership(state, settings.lease_s, slots=slots)

    async def healthz(request: Request) -> JSONResponse:
        degraded = bool(failed_plugins or registry.errors)
        return JSONResponse(
            {
                "status": "degraded" if degraded else "ok",
                "upstream": display_name(settings.upstream),
                "model": settings.model,
                "tools": len(registry.tools()),
                "sessions": endpoint.sessions,
                "failed_servers": sorted(registry.errors),
                "starting_servers": registry.pending,
                "failed_plugins": failed_plugins,
                "auth": authenticator.required,
            }
        )

    app = Starlette(
        routes=[
            WebSocketRoute("/v1/realtime", endpoint),
            Route("/healthz", healthz, methods=["GET"]),
            readiness_route(state, drain, slots),
            *twilio_routes(registry, settings, upstream, metrics.observer(observer), slots, state),
            *openai_call_routes(registry, settings, metrics.observer(observer), slots, state, ownership),
        ],
        middleware=[Middleware(DrainGuard, drain=drain)],
    )
    app.router.routes += [*secret_routes(settings.model), *metrics_routes(metrics), *console_routes(settings)]
    app.router.default = websocket_not_found
    public_urls = [settings.twilio.public_url] if settings.twilio is not None else []
    policy = HostPolicy.build(settings.allowed_hosts, settings.allowed_origins, public_urls)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(OriginGuard, policy=policy)  # added last: the outermost check
    app.state.endpoint = endpoint
    app.state.sessions = slots
    app.state.authenticator = authenticator
    app.state.metrics = metrics
    app.state.store = state
    app.state.drain = drain
    app.state.ownership = ownership if settings.calls.api_key else None
    return app
