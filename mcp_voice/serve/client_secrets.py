"""Ephemeral client secrets: short-lived credentials a backend mints for a browser or a phone app.

`POST /v1/realtime/client_secrets` (API key required) answers in the GA shape
`{"value": "ek_...", "expires_at": <unix s>, "session": {...}}`. The secret opens sessions until
it expires, and pins the session config it was minted with (see `pinned.py`).

Secrets live in a `SecretStore`. The default keeps them in this process's memory (they survive
nothing but the process); the interface is three async calls keyed by a hash of the secret, so a
shared store (`serve/state/redis_state.py`: `SET key value PX ttl` / `GET` / `GETDEL`) implements
it for several processes.
The store never sees a secret's value, only its SHA-256, so a dump of it opens nothing.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

SECRET_PREFIX = "ek_"
MIN_TTL_S = 10
MAX_TTL_S = 7200
DEFAULT_TTL_S = 600
PURGE_EVERY_S = 1.0


class SecretRequestError(ValueError):
    """A mint request the endpoint refuses (answered with 400 and an OpenAI-style error body)."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class ClientSecret:
    """A minted secret as the store keeps it: its hash, lifetime, and the session it pins."""

    digest: str
    created_at: int
    expires_at: int
    session: Mapping[str, Any] = field(default_factory=dict)

    def expired(self, now: float) -> bool:
        return now >= self.expires_at


class SecretStore(Protocol):
    """Where minted secrets are kept. `get` returns None for unknown and for expired secrets.

    `take` reads and forgets in one step (a one-shot secret); sessions use `get`, as OpenAI's
    client secrets open sessions until they expire. Shared stores live in `serve/state/`.
    """

    async def put(self, secret: ClientSecret) -> None: ...

    async def get(self, digest: str) -> ClientSecret | None: ...

    async def take(self, digest: str) -> ClientSecret | None: ...


def digest_of(value: str) -> str:
    """The store key of a secret value (stores never hold the value itself)."""
    return hashlib.sha256(value.encode()).hexdigest()


class MemorySecretStore:
    """The default store: a dict in this process, expired entries dropped as they are met."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._secrets: dict[str, ClientSecret] = {}
        self._next_purge = 0.0

    async def put(self, secret: ClientSecret) -> None:
        self._purge()
        self._secrets[secret.digest] = secret

    async def get(self, digest: str) -> ClientSecret | None:
        secret = self._secrets.get(digest)
        if secret is None:
            return None
        if secret.expired(self._clock()):
            del self._secrets[digest]
            return None
        return secret

    async def take(self, digest: str) -> ClientSecret | None:
        secret = await self.get(digest)
        self._secrets.pop(digest, None)
        return secret

    def __len__(self) -> int:
        return len(self._secrets)

    def _purge(self) -> None:
        """Drop expired secrets, at most once a second (a scan per mint made minting quadratic)."""
        now = self._clock()
        if now < self._next_purge:
            return
        self._next_purge = now + PURGE_EVERY_S
        for digest in [d for d, s in self._secrets.items() if s.expired(now)]:
            del self._secrets[digest]


def parse_request(body: Any) -> tuple[int, dict[str, Any]]:
    """`(ttl_s, session)` from a mint request body; raises `SecretRequestError` naming the field."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise SecretRequestError("the request body must be a JSON object")
    unknown = sorted(set(body) - {"expires_after", "session"})
    if unknown:
        raise SecretRequestError(f"unknown parameter {unknown[0]!r}", unknown[0])
    ttl = DEFAULT_TTL_S
    expires = body.get("expires_after")
    if expires is not None:
        if not isinstance(expires, dict):
            raise SecretRequestError("'expires_after' must be an object", "expires_after")
        anchor = expires.get("anchor", "created_at")
        if anchor != "created_at":
            raise SecretRequestError("'expires_after.anchor' must be 'created_at'", "expires_after.anchor")
        seconds = expires.get("seconds", DEFAULT_TTL_S)
        if isinstance(seconds, bool) or not isinstance(seconds, int):
            raise SecretRequestError("'expires_after.seconds' must be an integer", "expires_after.seconds")
        if not MIN_TTL_S <= seconds <= MAX_TTL_S:
            raise SecretRequestError(
                f"'expires_after.seconds' must be between {MIN_TTL_S} and {MAX_TTL_S} (got {seconds})",
                "expires_after.seconds",
            )
        ttl = seconds
    session = body.get("session")
    if session is None:
        session = {}
    if not isinstance(session, dict):
        raise SecretRequestError("'session' must be an object", "session")
    kind = session.get("type", "realtime")
    if kind != "realtime":
        raise SecretRequestError(
            f"'session.type' {kind!r} is not served here: only 'realtime' sessions", "session.type"
        )
    return ttl, dict(session)


async def mint(
    store: SecretStore,
    ttl_s: int,
    session: Mapping[str, Any],
    *,
    default_model: str,
    now: float | None = None,
) -> dict[str, Any]:
    """Create a secret, keep its hash in `store`, and return the GA response body."""
    value = SECRET_PREFIX + secrets.token_urlsafe(24)
    created = int(time.time() if now is None else now)
    pinned = {k: v for k, v in session.items() if k != "type"}
    await store.put(ClientSecret(digest_of(value), created, created + ttl_s, pinned))
    shown = {
        "type": "realtime",
        "object": "realtime.session",
        "id": "sess_" + secrets.token_hex(8),
        "model": pinned.get("model", default_model),
        **{k: v for k, v in pinned.items() if k != "model"},
        "expires_at": 0,
    }
    return {"value": value, "expires_at": created + ttl_s, "session": shown}
