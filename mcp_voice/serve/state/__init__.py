"""State that spans serve processes: client secrets, the webhook replay cache, call leases.

One `StateStore` per serve process, chosen by `--state URL` / `MCP_VOICE_STATE` / `[serve] state`:
`memory` (the default: this process only, nothing to install) or `redis://…` / `rediss://…`
(Redis or Valkey, through redis-py's asyncio client; `pip install 'mcp-voice[redis]'`), shared
by every process pointed at it. A store that cannot be asked raises `StateUnavailable`; callers
then refuse (fail closed) and `/readyz` says why.
"""

from __future__ import annotations

from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from mcp_voice.serve.client_secrets import SecretStore

__all__ = ["StateConfigError", "StateStore", "StateUnavailable", "display_url", "open_state"]

STATE_ENV = "MCP_VOICE_STATE"


class StateUnavailable(Exception):
    """The store could not be asked (Redis down, timed out); the message says why, without secrets."""


class StateConfigError(ValueError):
    """A `--state` URL serve cannot use (unknown scheme, the redis extra missing)."""


class StateStore(Protocol):
    """What serve keeps beyond one process. Every call may raise `StateUnavailable`."""

    @property
    def url(self) -> str:
        """Where the state lives, safe to show (no password)."""
        ...

    @property
    def secrets(self) -> SecretStore:
        """Minted client secrets by hash (`put`/`get`/`take`), each expiring with its TTL."""
        ...

    async def first_seen(self, key: str, ttl_s: float) -> bool:
        """True for the first caller of `key` within `ttl_s` (atomic: exactly one process wins)."""
        ...

    async def acquire(self, key: str, owner: str, ttl_s: float) -> bool:
        """Take the lease `key` for `owner` unless someone else holds it (an owner may re-take its own)."""
        ...

    async def renew(self, key: str, owner: str, ttl_s: float) -> bool:
        """Extend `owner`'s lease; False when it was lost (expired, or taken by another)."""
        ...

    async def release(self, key: str, owner: str) -> None:
        """Give the lease up (only when `owner` holds it)."""
        ...

    async def holder(self, key: str) -> str | None:
        """Who holds the lease `key` now (None: nobody)."""
        ...

    async def put_record(self, kind: str, key: str, value: str) -> None:
        """Keep `value` under `kind`/`key` until dropped (a running call's description)."""
        ...

    async def records(self, kind: str) -> dict[str, str]:
        """Every record of `kind`, by key."""
        ...

    async def drop_record(self, kind: str, key: str) -> None: ...

    async def ping(self) -> None:
        """Raise `StateUnavailable` when the store cannot be reached."""
        ...

    async def aclose(self) -> None: ...


def display_url(url: str) -> str:
    """`url` without its password (for logs, /readyz and the startup line)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = (f"{parts.username}:***@" if parts.username else ":***@") + (parts.hostname or "")
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def open_state(url: str | None) -> StateStore:
    """The store `url` names (None or "memory": this process's memory). Connects lazily."""
    if not url or url == "memory":
        from mcp_voice.serve.state.memory import MemoryState

        return MemoryState()
    scheme = urlsplit(url).scheme
    if scheme in ("redis", "rediss", "unix"):
        try:
            from mcp_voice.serve.state.redis_state import RedisState
        except ImportError:
            raise StateConfigError(
                "a redis:// state needs the Redis client: pip install 'mcp-voice[redis]'"
            ) from None
        return RedisState(url)
    shown = display_url(url)
    raise StateConfigError(f"--state must be 'memory' or a redis:// or rediss:// URL (got {shown!r})")
