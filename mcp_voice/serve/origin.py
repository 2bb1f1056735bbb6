"""Host and Origin checks in front of every route: a web page the user visits must not drive serve.

Two browser attacks reach a server on loopback. DNS rebinding: a page on `evil.example` re-points
its name at 127.0.0.1 and talks to serve as "same origin"; its requests still say
`Host: evil.example`. Cross-site WebSocket hijacking: a page opens a WebSocket to serve directly;
browsers let it, but say `Origin: https://evil.example`. So every HTTP request and WebSocket
handshake must name a host this server answers to (the address it was reached at, the loopback
names, the configured public names) and, when it carries an `Origin`, come from that same
origin or one configured. Non-browser clients (SDKs, Twilio, OpenAI's webhooks) send no Origin.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_voice.serve.auth import LOOPBACK_NAMES
from mcp_voice.serve.deny import deny, shown

ANY = "*"
MAX_LOGGED_REASONS = 100
log = logging.getLogger("mcp_voice.serve")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def hostname_of(value: str) -> str | None:
    """`Host`-style `name[:port]` (or a URL) -> the lowercase name without brackets; None if malformed."""
    try:
        parts = urlsplit(value if "//" in value else "//" + value)
        _ = parts.port  # raises on a bad port
    except ValueError:
        return None
    return parts.hostname or None


def normal_origin(origin: str) -> str | None:
    """`HTTPS://App.Example.com:443/` -> `https://app.example.com` (None when it is not an origin)."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    port_part = "" if port is None or port == _DEFAULT_PORTS[parts.scheme] else f":{port}"
    return f"{parts.scheme.lower()}://{host}{port_part}"


@dataclass(frozen=True)
class HostPolicy:
    """Which `Host` names and `Origin`s one server accepts beyond its own address and loopback."""

    hosts: frozenset[str] = frozenset()
    """Public names (lowercase, no port); `*`: any host (the operator's proxy checks it)."""
    origins: frozenset[str] = frozenset()
    """Origins (`https://app.example.com`) whose pages may use the server; `*`: any."""

    @classmethod
    def build(
        cls, hosts: Iterable[str] = (), origins: Iterable[str] = (), urls: Iterable[str] = ()
    ) -> HostPolicy:
        """From configured names and origins, plus the hosts of public URLs (Twilio's)."""
        names = {ANY if h.strip() == ANY else hostname_of(h.strip()) for h in hosts}
        names |= {hostname_of(url) for url in urls}
        kept = {ANY if o.strip() == ANY else normal_origin(o) for o in origins}
        return cls(frozenset(n for n in names if n), frozenset(o for o in kept if o))

    def refusal(self, scope: Scope) -> str | None:
        """Why this request is refused, or None to let it through."""
        headers = Headers(scope=scope)
        host = headers.get("host")
        if host is not None:
            name = hostname_of(host)
            if name is None or not self._host_allowed(name, scope):
                return (
                    f"refused: Host {shown(host)} is not a name this server answers to "
                    "(add it to [serve] allowed_hosts)"
                )
        origin = headers.get("origin")
        if origin is not None and not self._origin_allowed(origin, host, scope):
            return (
                f"refused: Origin {shown(origin)} is not this server's origin "
                "(add it to [serve] allowed_origins)"
            )
        return None

    def _host_allowed(self, name: str, scope: Scope) -> bool:
        server = scope.get("server")
        bound = str(server[0]).lower() if server else None
        return name in LOOPBACK_NAMES or name == bound or name in self.hosts or ANY in self.hosts

    def _origin_allowed(self, origin: str, host: str | None, scope: Scope) -> bool:
        normal = normal_origin(origin)
        if normal is None:  # "null" (sandboxed frames, file://) and anything else unparseable
            return False
        if ANY in self.origins or normal in self.origins:
            return True
        if host is None:
            return False
        scheme = normal.split("://", 1)[0]
        own = normal_origin(f"{scheme}://{host}")
        return own == normal


QUERY_KEY_REFUSED = (
    "refused: an HTTP request carries a key in ?token=; send it as Authorization: Bearer <key> "
    "(URLs end up in proxy logs and browser history; ?token= is for WebSocket clients only)"
)


def query_key(scope: Scope) -> bool:
    """Whether an HTTP request (not a WebSocket handshake) carries `?token=`."""
    if scope["type"] != "http":
        return False
    query = scope.get("query_string", b"").decode("latin-1")
    return any(part.split("=", 1)[0] == "token" for part in query.split("&"))


class OriginGuard:
    """ASGI middleware: refuse (403, reason in the body) what `HostPolicy` refuses; pass the rest.

    It also refuses (401) an HTTP request with `?token=`: keys go in the `Authorization` header,
    and a key in a URL is leaked whether or not it is accepted.
    """

    def __init__(self, app: ASGIApp, policy: HostPolicy) -> None:
        self.app = app
        self.policy = policy
        self._logged: set[str] = set()

    def _log_once(self, reason: str) -> None:
        """The operator learns what was refused (a proxy's name missing from allowed_hosts, say):
        each distinct reason once, and a bounded number of them, so refusals cannot flood the log."""
        if reason not in self._logged and len(self._logged) < MAX_LOGGED_REASONS:
            self._logged.add(reason)
            log.warning("%s", reason)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            reason = self.policy.refusal(scope)
            if reason is not None:
                self._log_once(reason)
                await deny(scope, receive, send, 403, reason)
                return
            if query_key(scope):
                await deny(scope, receive, send, 401, QUERY_KEY_REFUSED)
                return
        await self.app(scope, receive, send)
