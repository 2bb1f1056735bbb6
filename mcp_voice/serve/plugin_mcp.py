"""A plugin's MCP servers, standalone: stdio or streamable HTTP, for any MCP client.

The same servers a session uses, built by the plugin from the same config (the filesystem jail,
the calendar store), served to Claude Desktop, the MCP Inspector or another agent. Over HTTP the
endpoint is `/mcp` (or `/<server>/mcp` when a plugin has several servers), loopback by default
and protected by API keys beyond it exactly like `serve`.
"""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any, TextIO

import uvicorn
from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_voice.serve.handshake import uvicorn_limits
from mcp_voice.serve.keys import Authenticator, offered_credentials
from mcp_voice.serve.origin import HostPolicy, OriginGuard
from mcp_voice.serve.plugin_tasks import serve_tasks
from mcp_voice.tools.spec import ServerSpec


class PluginServerError(Exception):
    """The plugin has no server that can be served this way (message says why and what to do)."""


def servable(specs: Sequence[ServerSpec], plugin: str, only: str | None = None) -> dict[str, MCPServer]:
    """The plugin's in-process servers by name (`only`: just that one)."""
    mine = [spec for spec in specs if spec.plugin == plugin]
    if only is not None:
        mine = [spec for spec in mine if spec.name == only]
        if not mine:
            names = ", ".join(spec.name for spec in specs if spec.plugin == plugin) or "none"
            raise PluginServerError(f"plugin {plugin} has no server named {only!r} (its servers: {names})")
    if not mine:
        raise PluginServerError(f"plugin {plugin} registered no MCP server")
    servers: dict[str, MCPServer] = {}
    for spec in mine:
        if not isinstance(spec.target, MCPServer):
            where = spec.target if spec.kind == "url" else "its own command"
            raise PluginServerError(
                f"server {spec.name} of plugin {plugin} is not in-process ({spec.kind}): "
                f"MCP clients can use it directly at {where}"
            )
        servers[spec.name] = spec.target
    return servers


async def run_stdio(servers: dict[str, MCPServer]) -> None:
    """One server over this process's stdin/stdout (stdout is the protocol: nothing else goes there)."""
    if len(servers) != 1:
        names = ", ".join(servers)
        raise PluginServerError(f"stdio carries one server: choose one with --server ({names}) or use HTTP")
    async with _tasks_served(servers):
        await next(iter(servers.values())).run_stdio_async()


@contextlib.asynccontextmanager
async def _tasks_served(servers: dict[str, MCPServer]) -> AsyncIterator[None]:
    """Long-running tools become MCP tasks (plugin_tasks.py), running in here."""
    async with contextlib.AsyncExitStack() as stack:
        for server in servers.values():
            extension = serve_tasks(server)
            if extension is not None:
                await stack.enter_async_context(extension.running())
        yield


class BearerGuard:
    """ASGI middleware: every HTTP request must present one of the keys (none configured: no check)."""

    def __init__(self, app: ASGIApp, keys: Sequence[str]) -> None:
        self.app = app
        self.keys = Authenticator(keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.keys.required:
            if self.keys.api_key(offered_credentials(Request(scope))) is None:
                body = "invalid or missing token (send Authorization: Bearer <token>)\n"
                await PlainTextResponse(body, status_code=401)(scope, receive, send)
                return
        await self.app(scope, receive, send)


OURS = TransportSecuritySettings(enable_dns_rebinding_protection=False)
"""The SDK checks Host/Origin only for exact loopback binds; `OriginGuard` checks them for every bind
(the same `HostPolicy` as serve), so the SDK's check is not doubled with other rules."""


def http_app(
    servers: dict[str, MCPServer], *, host: str, keys: Sequence[str], policy: HostPolicy | None = None
) -> tuple[ASGIApp, list[str]]:
    """The streamable HTTP app and its endpoint paths (`/mcp`, or `/<server>/mcp` for several).

    Every request passes the Host/Origin check first (`policy`: configured names and origins),
    then the key check.
    """
    policy = policy or HostPolicy()
    apps = {
        name: server.streamable_http_app(host=host, transport_security=OURS)
        for name, server in servers.items()
    }
    if len(apps) == 1:
        return OriginGuard(BearerGuard(next(iter(apps.values())), keys), policy), ["/mcp"]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for server in servers.values():
                await stack.enter_async_context(server.session_manager.run())
            yield

    routes = [Mount(f"/{name}", app=app) for name, app in apps.items()]
    app = BearerGuard(Starlette(routes=routes, lifespan=lifespan), keys)
    return OriginGuard(app, policy), [f"/{name}/mcp" for name in apps]


async def run_http(
    servers: dict[str, MCPServer],
    sock: socket.socket,
    *,
    host: str,
    keys: Sequence[str],
    policy: HostPolicy | None = None,
    out: TextIO = sys.stdout,
    log_level: str = "warning",
) -> None:
    """Serve until SIGINT/SIGTERM; prints one line per endpoint when ready."""
    async with _tasks_served(servers):
        app, paths = http_app(servers, host=host, keys=keys, policy=policy)
        config = uvicorn.Config(
            app, lifespan="on", log_config=None, log_level=log_level, access_log=False, **uvicorn_limits()
        )
        server = _Announcing(config, [_url(host, sock, path) for path in paths], out)
        await server.serve(sockets=[sock])


def _url(host: str, sock: socket.socket, path: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{sock.getsockname()[1]}{path}"


class _Announcing(uvicorn.Server):
    """uvicorn, printing the endpoint URLs once it accepts connections."""

    def __init__(self, config: uvicorn.Config, urls: list[str], out: TextIO) -> None:
        super().__init__(config)
        self.urls = urls
        self.out = out

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        for url in self.urls:
            print(f"mcp-voice mcp listening on {url}", file=self.out, flush=True)
