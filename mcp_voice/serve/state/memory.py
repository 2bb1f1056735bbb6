"""`MemoryState`: the default store, this process's memory (today's behaviour; nothing shared)."""

from __future__ import annotations

import time
from collections.abc import Callable

from mcp_voice.serve.client_secrets import MemorySecretStore

MAX_KEYS = 100_000
"""Bound on replay keys and leases kept, so a flood of signed deliveries cannot grow memory forever."""


class MemoryState:
    """Replay keys and leases in dicts, expired entries dropped as they are met."""

    url = "memory"

    def __init__(self, clock: Callable[[], float] = time.monotonic, limit: int = MAX_KEYS) -> None:
        self._clock = clock
        self._limit = limit
        self.secrets = MemorySecretStore()
        self._seen: dict[str, float] = {}
        self._leases: dict[str, tuple[str, float]] = {}
        self._records: dict[str, dict[str, str]] = {}

    async def first_seen(self, key: str, ttl_s: float) -> bool:
        now = self._clock()
        if len(self._seen) >= self._limit:
            self._seen = {k: t for k, t in self._seen.items() if t > now}
            while len(self._seen) >= self._limit:  # still full of live keys: the oldest go first
                del self._seen[next(iter(self._seen))]
        expires = self._seen.get(key)
        if expires is not None and expires > now:
            return False
        self._seen.pop(key, None)
        self._seen[key] = now + ttl_s
        return True

    async def acquire(self, key: str, owner: str, ttl_s: float) -> bool:
        current = await self.holder(key)
        if current is not None and current != owner:
            return False
        self._leases[key] = (owner, self._clock() + ttl_s)
        return True

    async def renew(self, key: str, owner: str, ttl_s: float) -> bool:
        if await self.holder(key) != owner:
            return False
        self._leases[key] = (owner, self._clock() + ttl_s)
        return True

    async def release(self, key: str, owner: str) -> None:
        if await self.holder(key) == owner:
            del self._leases[key]

    async def holder(self, key: str) -> str | None:
        lease = self._leases.get(key)
        if lease is None:
            return None
        if lease[1] <= self._clock():
            del self._leases[key]
            return None
        return lease[0]

    async def put_record(self, kind: str, key: str, value: str) -> None:
        self._records.setdefault(kind, {})[key] = value

    async def records(self, kind: str) -> dict[str, str]:
        return dict(self._records.get(kind, {}))

    async def drop_record(self, kind: str, key: str) -> None:
        self._records.get(kind, {}).pop(key, None)

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
