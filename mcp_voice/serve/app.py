"""The Starlette app: the relay WebSocket at /v1/realtime, /healthz, and the routes beside them.

It only assembles: the relay endpoint (`realtime.py`), phone calls (`twilio/`), OpenAI calls
(`openai_calls/`), client secrets and metrics, all over one `ServeSettings` (`settings.py`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from mcp_voice.serve.client_secrets import SecretStore
from mcp_voice.serve.keys import Authenticator
from mcp_voice.serve.observe import ServeMetrics, metrics_routes
from mcp_voice.serve.openai_calls import openai_call_routes
from mcp_voice.serve.realtime import RealtimeEndpoint
from mcp_voice.serve.secret_routes import secret_routes
from mcp_voice.serve.settings import ServeSettings, UpstreamOpener
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
) -> Starlette:
    """The serve app over a started registry shared by every session (embed it, or let `run` serve it).

    `load_errors` (plugin or config entry -> message) are the tools that could not be loaded: the
    process serves without them, and /healthz says so instead of looking healthy. `observer` hears
    each session start and end (`ToolSetup.session_observer()` runs the plugins' session hooks).
    `secret_store` keeps minted client secrets (default: this process's memory).
    """
    settings = settings or ServeSettings()
    upstream = upstream or functools.partial(open_upstream, sim_config=settings.sim)
    keys = (*settings.api_keys, *((settings.token,) if settings.token else ()))
    authenticator = Authenticator(keys, secret_store)
    metrics = ServeMetrics(registry, log_tool_io=settings.log_tool_io)
    endpoint = RealtimeEndpoint(registry, settings, upstream, observer, metrics)
    failed_plugins = sorted(load_errors or {})

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
            *twilio_routes(registry, settings, upstream, metrics.observer(observer)),
            *openai_call_routes(registry, settings, metrics.observer(observer)),
        ]
    )
    app.router.routes += [*secret_routes(settings.model), *metrics_routes(metrics)]
    app.state.endpoint = endpoint
    app.state.authenticator = authenticator
    app.state.metrics = metrics
    return app
