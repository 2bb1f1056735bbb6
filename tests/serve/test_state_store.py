"""The two state stores keep the same promises: secrets by TTL, one winner per replay key, leases."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import anyio
import pytest
from redis_rig import redis_server

from mcp_voice.serve.client_secrets import ClientSecret
from mcp_voice.serve.state import StateConfigError, StateStore, StateUnavailable, display_url, open_state

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[StateStore]:
    if request.param == "memory":
        yield open_state("memory")
        return
    with redis_server() as server:
        state = open_state(server.url)
        try:
            yield state
        finally:
            await state.aclose()


async def test_secrets_expire_and_take_is_one_shot(store: StateStore) -> None:
    now = int(time.time())
    await store.secrets.put(ClientSecret("d1", now, now + 60, {"instructions": "pinned"}))
    await store.secrets.put(ClientSecret("d2", now - 10, now + 1, {}))
    got = await store.secrets.get("d1")
    assert got is not None and got.session == {"instructions": "pinned"} and got.expires_at == now + 60
    assert await store.secrets.get("d1") is not None  # get does not consume
    assert await store.secrets.take("d1") is not None
    assert await store.secrets.take("d1") is None and await store.secrets.get("d1") is None
    assert await store.secrets.get("nope") is None
    await anyio.sleep(1.2)
    assert await store.secrets.get("d2") is None  # expired by its TTL


async def test_first_seen_has_one_winner_among_many(store: StateStore) -> None:
    wins: list[bool] = []

    async def offer() -> None:
        wins.append(await store.first_seen("wh_1", 5))

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(offer)
    assert wins.count(True) == 1
    assert await store.first_seen("wh_2", 0.2)
    await anyio.sleep(0.4)
    assert await store.first_seen("wh_2", 0.2)  # forgotten after its TTL


async def test_leases_have_one_holder_and_expire(store: StateStore) -> None:
    assert await store.acquire("call:a", "p1", 0.5)
    assert not await store.acquire("call:a", "p2", 0.5)
    assert await store.acquire("call:a", "p1", 0.5)  # its own again
    assert await store.holder("call:a") == "p1"
    assert not await store.renew("call:a", "p2", 0.5)
    assert await store.renew("call:a", "p1", 0.5)
    await store.release("call:a", "p2")  # not the holder: nothing happens
    assert await store.holder("call:a") == "p1"
    await anyio.sleep(0.7)
    assert await store.holder("call:a") is None  # unrenewed: gone
    assert not await store.renew("call:a", "p1", 0.5)
    assert await store.acquire("call:a", "p2", 0.5)
    await store.release("call:a", "p2")
    assert await store.holder("call:a") is None


async def test_records_are_kept_until_dropped(store: StateStore) -> None:
    await store.put_record("calls", "rtc_1", '{"a": 1}')
    await store.put_record("calls", "rtc_2", "{}")
    assert await store.records("calls") == {"rtc_1": '{"a": 1}', "rtc_2": "{}"}
    await store.drop_record("calls", "rtc_1")
    assert await store.records("calls") == {"rtc_2": "{}"} and await store.records("other") == {}


async def test_a_stopped_redis_raises_state_unavailable_quickly() -> None:
    with redis_server() as server:
        state = open_state(server.url)
        await state.ping()
        server.stop()
        for call in (state.ping(), state.secrets.get("d"), state.first_seen("k", 1)):
            started = time.monotonic()
            with pytest.raises(StateUnavailable, match=r"127\.0\.0\.1"):
                await call
            assert time.monotonic() - started < 3
        await state.aclose()


def test_urls_are_checked_and_shown_without_password() -> None:
    with pytest.raises(StateConfigError, match="redis://"):
        open_state("memcached://x")
    assert display_url("redis://:hunter2@db:6380/1") == "redis://:***@db:6380/1"
    assert display_url("rediss://user:pw@db/0") == "rediss://user:***@db/0"
    assert open_state("redis://:hunter2@db:6380/1").url == "redis://:***@db:6380/1"
