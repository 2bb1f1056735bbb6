"""Which MCP server URLs a client may make the host connect to: none, unless the operator says so.

A client's `mcp_server` entry naming a URL makes this machine send HTTP requests where the client
chose, with headers the client chose: a request forger aimed at whatever only this machine can
reach (loopback admin ports, the cloud metadata address, the office network). So:

- `[session] client_server_urls` is an allow-list of URL patterns, compared case-insensitively;
  empty by default, so clients can name only the host's own servers (by name; the URL of such an
  entry is ignored). `*` matches within one host label or one path segment (never a `.` in the
  host, never a `/`), `?` one such character, `**` any number of them (`**.example.com`, `/**`):
  a `*` that could match `/` would let `https://*.example.com/*` admit
  `https://attacker.net/x.example.com/mcp`.
- Loopback, private, link-local and other non-public addresses are refused even when a wildcard
  pattern matches; a pattern must name such a host literally (`http://127.0.0.1:9000/*`).
  Host names are resolved before connecting and every address they resolve to is checked.
- The client's headers are sent only to URLs matching `[session] client_server_headers`.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import anyio

WILDCARDS = frozenset("*?")
_LABEL = r"[^./:@?#\\]"
"""One character of a host label (or port): never a separator that could move the match elsewhere."""
_HOST = r"[^/@?#\\]"
"""`**` in the host: any labels, and a port (an IPv6 literal's colons too)."""
_SEGMENT = r"[^/\\]"
"""One character of a path segment (the query, if any, is part of the last one)."""


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A URL pattern as a regex: `*`/`?` within one host label or path segment, `**` across them."""
    pattern = pattern.lower()
    scheme_end = pattern.find("://")
    authority_start = scheme_end + 3 if scheme_end >= 0 else 0
    path_start = pattern.find("/", authority_start)
    if path_start < 0:
        path_start = len(pattern)
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        in_host = authority_start <= index < path_start
        if char == "*" and pattern.startswith("**", index):
            out.append((_HOST if in_host else ".") + "*")
            index += 2
            continue
        if char in "*?":
            one = _LABEL if in_host else _SEGMENT
            out.append(one + ("*" if char == "*" else ""))
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("".join(out))


class UrlRefused(Exception):
    """The URL is not one a client may name here (the message says why, without probing it)."""


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_internal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Anything but a public unicast address: loopback, private, link-local, CGNAT, multicast..."""
    return not address.is_global or address.is_multicast


@dataclass(frozen=True)
class ClientServerPolicy:
    patterns: Sequence[str] = ()
    header_patterns: Sequence[str] = ()
    connect_timeout_s: float = 5.0

    def _matches(self, url: str, patterns: Sequence[str]) -> list[str]:
        lowered = url.lower()
        return [p for p in patterns if compile_pattern(p).fullmatch(lowered)]

    def _names_host(self, matched: list[str], host: str) -> bool:
        """Whether one of the matching patterns names `host` literally (no wildcard in its host)."""
        for pattern in matched:
            named = urlsplit(pattern).hostname or ""
            if named and not (WILDCARDS & set(named)) and named == host:
                return True
        return False

    def check(self, url: str) -> None:
        """Refuse a URL that no pattern allows, or a literal internal address no pattern names."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host:
            raise UrlRefused("only http(s) URLs with a host can be named")
        if parts.username or parts.password:
            raise UrlRefused("URLs with credentials in them are not accepted")
        matched = self._matches(url, self.patterns)
        if not matched:
            if not self.patterns:
                raise UrlRefused(
                    "this host connects only to its own servers (name one of them); its operator "
                    "can allow URLs with [session] client_server_urls"
                )
            raise UrlRefused("the URL is not in this host's client_server_urls")
        address = _address(host)
        internal = (
            host == "localhost"
            or host.endswith(".localhost")
            or (address is not None and is_internal(address))
        )
        if internal and not self._names_host(matched, host):
            raise UrlRefused(
                "loopback, private and link-local addresses are refused unless client_server_urls "
                "names the host explicitly"
            )

    async def check_resolved(self, url: str) -> None:
        """Resolve the URL's host name: refuse it if any address is internal and not named explicitly."""
        host = (urlsplit(url).hostname or "").lower()
        if _address(host) is not None or self._names_host(self._matches(url, self.patterns), host):
            return
        try:
            infos = await anyio.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise UrlRefused(f"cannot resolve {host}") from exc
        for info in infos:
            address = _address(str(info[4][0]))
            if address is not None and is_internal(address):
                raise UrlRefused(f"{host} resolves to an internal address")

    def passes_headers(self, url: str) -> bool:
        return bool(self._matches(url, self.header_patterns))
