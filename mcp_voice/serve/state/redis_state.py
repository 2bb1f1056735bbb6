"""`RedisState`: state shared by every serve process pointed at one Redis (or Valkey).

Keys live under `mcp-voice:`; every entry carries its own expiry (`SET … PX`), so nothing needs
cleaning. Replay keys are `SET NX`; leases are `SET NX` plus two short Lua scripts, so renewing or
releasing touches only a lease this owner still holds. Each command has a short timeout and no
retries: a Redis that does not answer makes the caller refuse within a second, never hang.
"""

from __future__ import annotations

import json
import time
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from mcp_voice.serve.client_secrets import ClientSecret
from mcp_voice.serve.state import StateUnavailable, display_url

PREFIX = "mcp-voice:"
TIMEOUT_S = 1.0
_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end "
    "return 0"
)
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
_ACQUIRE = (
    "local v = redis.call('get', KEYS[1]) "
    "if v == false or v == ARGV[1] then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end "
    "return 0"
)


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class RedisState:
    """One connection pool per process; commands fail fast with `StateUnavailable`."""

    def __init__(self, url: str) -> None:
        self.url = display_url(url)
        self._redis = aioredis.from_url(
            url,
            socket_connect_timeout=TIMEOUT_S,
            socket_timeout=TIMEOUT_S,
            retry=Retry(NoBackoff(), 0),
            decode_responses=True,
        )
        self.secrets = RedisSecrets(self)

    async def call(self, name: str, *args: Any, **kw: Any) -> Any:
        """Run one command; any Redis failure becomes `StateUnavailable` naming the store."""
        try:
            return await getattr(self._redis, name)(*args, **kw)
        except (RedisError, OSError) as exc:
            why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise StateUnavailable(f"state store {self.url} unreachable ({why})") from exc

    async def first_seen(self, key: str, ttl_s: float) -> bool:
        return bool(await self.call("set", PREFIX + "seen:" + key, "1", nx=True, px=_ms(ttl_s)))

    async def acquire(self, key: str, owner: str, ttl_s: float) -> bool:
        return bool(await self.call("eval", _ACQUIRE, 1, PREFIX + "lease:" + key, owner, _ms(ttl_s)))

    async def renew(self, key: str, owner: str, ttl_s: float) -> bool:
        return bool(await self.call("eval", _RENEW, 1, PREFIX + "lease:" + key, owner, _ms(ttl_s)))

    async def release(self, key: str, owner: str) -> None:
        await self.call("eval", _RELEASE, 1, PREFIX + "lease:" + key, owner)

    async def holder(self, key: str) -> str | None:
        return cast("str | None", await self.call("get", PREFIX + "lease:" + key))

    async def put_record(self, kind: str, key: str, value: str) -> None:
        await self.call("hset", PREFIX + "records:" + kind, key, value)

    async def records(self, kind: str) -> dict[str, str]:
        return cast("dict[str, str]", await self.call("hgetall", PREFIX + "records:" + kind))

    async def drop_record(self, kind: str, key: str) -> None:
        await self.call("hdel", PREFIX + "records:" + kind, key)

    async def ping(self) -> None:
        await self.call("ping")

    async def aclose(self) -> None:
        await self._redis.aclose()


class RedisSecrets:
    """Client secrets as `SET secret:<sha256> <json> PX <ttl>`: Redis expires them, not us."""

    def __init__(self, state: RedisState) -> None:
        self._state = state

    async def put(self, secret: ClientSecret) -> None:
        fields = {"created_at": secret.created_at, "expires_at": secret.expires_at}
        value = json.dumps({**fields, "session": dict(secret.session)})
        ttl = max(0.001, secret.expires_at - time.time())
        await self._state.call("set", PREFIX + "secret:" + secret.digest, value, px=_ms(ttl))

    async def get(self, digest: str) -> ClientSecret | None:
        return _decode(digest, await self._state.call("get", PREFIX + "secret:" + digest))

    async def take(self, digest: str) -> ClientSecret | None:
        return _decode(digest, await self._state.call("getdel", PREFIX + "secret:" + digest))


def _decode(digest: str, raw: str | None) -> ClientSecret | None:
    if raw is None:
        return None
    data = json.loads(raw)
    return ClientSecret(digest, int(data["created_at"]), int(data["expires_at"]), data.get("session") or {})
