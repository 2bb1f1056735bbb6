"""OpenAI SIP and WebRTC calls hold session slots too: with `max_sessions = 1` and one call up, a
second SIP call is rejected busy (486) and a WebRTC offer gets 503, with nothing created at OpenAI."""

from __future__ import annotations

import anyio
import httpx2
import pytest

from mcp_voice.serve.drain import DRAIN_EXPIRED
from tests.serve.calls_rig import accepted, rig
from tests.serve.test_openai_webrtc import TOKEN, offer

pytestmark = pytest.mark.anyio


async def test_a_second_sip_call_beyond_max_sessions_is_rejected_busy() -> None:
    async with rig(max_sessions=1) as r:
        await accepted(r, "rtc_first")
        response = await r.ring("rtc_second")
        assert response.status_code == 200  # the delivery is acknowledged; the call is refused
        reject = await r.fake.wait_request("reject")
        assert reject.body == {"status_code": 486}
        assert len(r.fake.requests_for("accept")) == 1


async def test_a_webrtc_offer_beyond_max_sessions_gets_503() -> None:
    async with rig(token=TOKEN, max_sessions=1) as r:
        await accepted(r, "rtc_first")
        response = await offer(r)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "session_limit_reached"
        assert not r.fake.requests_for("create")


async def test_readyz_says_full_once_max_sessions_calls_are_up() -> None:
    async with rig(max_sessions=1) as r, httpx2.AsyncClient() as client:
        assert (await client.get(f"{r.url}/readyz")).status_code == 200
        await accepted(r, "rtc_first")
        answer = await client.get(f"{r.url}/readyz")
        assert answer.status_code == 503
        body = answer.json()
        assert body["status"] == "unavailable" and body["sessions"] == 1
        assert body["reasons"] == ["full: 1 of 1 sessions"]


async def test_two_concurrent_webrtc_offers_for_the_last_slot_create_one_call() -> None:
    async with rig(token=TOKEN, max_sessions=1) as r:
        responses: list[httpx2.Response] = []

        async def one() -> None:
            responses.append(await offer(r))

        async with anyio.create_task_group() as tg:
            tg.start_soon(one)
            tg.start_soon(one)
        assert sorted(response.status_code for response in responses) == [201, 503]
        assert len(r.fake.requests_for("create")) == 1  # the refused offer created nothing at OpenAI


async def test_a_shutdown_ends_a_sip_calls_session_with_its_reason() -> None:
    """The end of a drain (and any shutdown) reaches every transport's sessions, SIP calls too."""
    async with rig() as r:
        await accepted(r, "rtc_first")
        call = r.fake.calls["rtc_first"]
        await r.app.state.endpoint.shutdown(DRAIN_EXPIRED)
        with anyio.fail_after(10):
            await r.watcher.gone.wait()
        assert [reason for _, reason in r.watcher.ended] == [DRAIN_EXPIRED]
        with anyio.fail_after(10):
            await call._disconnected.wait()  # the sideband was closed by serve
            while r.app.state.sessions.active:  # noqa: ASYNC110 (the slot is given back after the lease)
                await anyio.sleep(0.01)
