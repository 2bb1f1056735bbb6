"""ReconnectingUpstream over in-memory upstreams the test plays: what a drop settles, replays and holds."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from mcp_voice.channels import ChannelClosed, EventChannel, MemoryChannel, channel_pair
from mcp_voice.protocol.reconnect import ReconnectingUpstream, ReconnectPolicy
from tests.session.wire import assert_ga, ev, response_obj

pytestmark = pytest.mark.anyio
QUICK = ReconnectPolicy(initial_backoff_s=0.01, max_backoff_s=0.02, rollover_after_s=None)


class Upstreams:
    """An opener: each call is a fresh in-memory upstream whose far end the test holds."""

    def __init__(self, refuse_after: int | None = None) -> None:
        self.ends: list[MemoryChannel] = []
        self.refuse_after = refuse_after
        self._opened = anyio.Event()

    def __call__(self) -> Any:
        @asynccontextmanager
        async def open_one() -> AsyncIterator[EventChannel]:
            if self.refuse_after is not None and len(self.ends) >= self.refuse_after:
                raise OSError("connection refused")
            far, near = channel_pair()
            self.ends.append(far)
            opened, self._opened = self._opened, anyio.Event()
            opened.set()
            try:
                yield near
            finally:
                await near.aclose()

        return open_one()

    async def opened(self, count: int) -> MemoryChannel:
        with anyio.fail_after(10):
            while len(self.ends) < count:
                await self._opened.wait()
        return self.ends[count - 1]


@asynccontextmanager
async def reading(upstream: ReconnectingUpstream) -> AsyncIterator[Any]:
    """Receive in the background, as a host always does (a drop is noticed by the one receiving)."""
    send, receive = anyio.create_memory_object_stream[Any](100)

    async def pump() -> None:
        try:
            while True:
                await send.send(await upstream.receive())
        except ChannelClosed as exc:
            await send.send(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(pump)
        yield receive
        tg.cancel_scope.cancel()


async def drain(end: MemoryChannel) -> list[Any]:
    """Everything the upstream end has received so far (without waiting for more)."""
    out: list[Any] = []
    while True:
        with anyio.move_on_after(0.05):
            out.append(await end.receive())
            continue
        return out


def user(text: str, item_id: str) -> dict[str, Any]:
    item = {
        "type": "message",
        "id": item_id,
        "role": "user",
        "content": [{"type": "input_text", "text": text}],
    }
    return {"type": "conversation.item.create", "event_id": f"evt_{item_id}", "item": item}


async def test_a_new_session_gets_the_config_and_the_conversation_and_echoes_stay_hidden() -> None:
    upstreams = Upstreams()
    async with ReconnectingUpstream(upstreams, policy=QUICK) as upstream, reading(upstream) as events:
        first = await upstreams.opened(1)
        await upstream.send(
            {"type": "session.update", "session": {"type": "realtime", "instructions": "be brief"}}
        )
        await upstream.send(
            {"type": "session.update", "session": {"tools": [{"type": "function", "name": "f"}]}}
        )
        await upstream.send(user("hello", "item_u1"))
        call = {"type": "function_call", "id": "item_c1", "call_id": "call_1", "name": "f", "arguments": "{}"}
        answer = {
            "type": "message",
            "id": "item_a1",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_audio", "transcript": "hi there"}],
        }
        for item in (call, answer):
            await first.send(ev("conversation.item.done", item=item))
            assert (await events.receive())["type"] == "conversation.item.done"
        await first.aclose()  # the drop
        second = await upstreams.opened(2)
        replay = await drain(second)
        session = replay[0]
        assert session["type"] == "session.update"
        assert session["session"]["instructions"] == "be brief"
        assert session["session"]["tools"] == [{"type": "function", "name": "f"}]
        items = [e["item"] for e in replay[1:]]
        assert [i["id"] for i in items] == ["item_u1", "item_c1", "item_a1"]
        assert items[2]["content"] == [{"type": "output_text", "text": "hi there"}]  # audio as its transcript
        # the new session's echoes are not passed on; the first real event is
        await second.send(ev("session.created", session={}))
        await second.send(ev("session.updated", session={}))
        for item in items:
            await second.send(ev("conversation.item.added", item=item))
            await second.send(ev("conversation.item.done", item=item))
        await second.send(ev("response.created", response=response_obj("resp_next")))
        with anyio.fail_after(5):
            assert (await events.receive())["type"] == "response.created"
        assert upstream.reconnects == 1


async def test_a_response_active_at_the_drop_ends_failed_and_a_turn_in_progress_is_cleared() -> None:
    upstreams = Upstreams()
    async with ReconnectingUpstream(upstreams, policy=QUICK) as upstream, reading(upstream) as events:
        first = await upstreams.opened(1)
        await first.send(ev("response.created", response=response_obj("resp_1")))
        await first.send(ev("input_audio_buffer.speech_started", audio_start_ms=0, item_id="item_s"))
        with anyio.fail_after(5):
            for _ in range(2):
                await events.receive()
        await first.aclose()
        with anyio.fail_after(5):
            done = await events.receive()
            cleared = await events.receive()
        assert done["type"] == "response.done" and done["response"]["id"] == "resp_1"
        assert done["response"]["status"] == "failed"
        assert done["response"]["status_details"]["error"]["code"] == "upstream_reconnecting"
        assert cleared["type"] == "input_audio_buffer.cleared"
        assert_ga(done)
        assert_ga(cleared)


async def test_a_response_create_never_started_is_asked_again(caplog: pytest.LogCaptureFixture) -> None:
    upstreams = Upstreams()
    async with ReconnectingUpstream(upstreams, policy=QUICK) as upstream, reading(upstream):
        first = await upstreams.opened(1)
        await upstream.send({"type": "response.create", "event_id": "evt_r"})
        await first.aclose()
        second = await upstreams.opened(2)
        sent = await drain(second)
        assert [e["event_id"] for e in sent if e["type"] == "response.create"] == ["evt_r"]


async def test_sends_in_the_gap_are_held_in_order_and_audio_beyond_the_bound_is_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    upstreams = Upstreams()
    policy = ReconnectPolicy(
        initial_backoff_s=0.3, max_backoff_s=0.3, rollover_after_s=None, gap_audio_chars=500
    )
    async with ReconnectingUpstream(upstreams, policy=policy) as upstream, reading(upstream):
        first = await upstreams.opened(1)
        await first.aclose()
        frame = '{"type":"input_audio_buffer.append","audio":"' + "A" * 100 + '"}'
        for _ in range(10):  # 10 frames of ~150 characters: only 3 fit in 500
            await upstream.send(frame)
        await upstream.send(user("after the gap", "item_gap"))
        second = await upstreams.opened(2)
        sent = await drain(second)
        appends = [e for e in sent if isinstance(e, str)]
        assert len(appends) == 3
        assert sent[-1]["item"]["id"] == "item_gap"  # held events keep their order, after the audio
    assert any("beyond the gap buffer" in r.getMessage() for r in caplog.records)


async def test_giving_up_yields_an_error_then_closes() -> None:
    upstreams = Upstreams(refuse_after=1)
    policy = ReconnectPolicy(attempts=2, initial_backoff_s=0.01, max_backoff_s=0.02, rollover_after_s=None)
    async with ReconnectingUpstream(upstreams, policy=policy) as upstream, reading(upstream) as events:
        first = await upstreams.opened(1)
        await first.aclose()
        with anyio.fail_after(5):
            error = await events.receive()
            assert error["type"] == "error" and error["error"]["code"] == "upstream_unavailable"
            assert "connection refused" in error["error"]["message"]
            assert_ga(error)
            assert isinstance(await events.receive(), ChannelClosed)
        with pytest.raises(ChannelClosed):
            await upstream.send({"type": "response.create"})


async def test_resume_mode_reconnects_without_a_replay() -> None:
    upstreams = Upstreams()
    async with (
        ReconnectingUpstream(upstreams, policy=QUICK, mode="resume") as upstream,
        reading(upstream) as events,
    ):
        first = await upstreams.opened(1)
        await upstream.send(user("hello", "item_u1"))
        await first.send(ev("response.created", response=response_obj("resp_1")))
        with anyio.fail_after(5):
            await events.receive()
        await first.aclose()
        second = await upstreams.opened(2)
        await upstream.send({"type": "response.cancel", "event_id": "evt_c"})
        assert [e["type"] for e in await drain(second)] == ["response.cancel"]
        await second.send(ev("response.done", response=response_obj("resp_1", "completed")))
        with anyio.fail_after(5):
            assert (await events.receive())["type"] == "response.done"  # no synthetic end: it went on


async def test_the_first_connection_failing_is_raised_as_itself() -> None:
    upstreams = Upstreams(refuse_after=0)
    with pytest.raises(OSError, match="refused"):
        async with ReconnectingUpstream(upstreams, policy=QUICK):
            pass


async def test_a_refused_session_update_or_item_is_not_replayed() -> None:
    upstreams = Upstreams()
    async with ReconnectingUpstream(upstreams, policy=QUICK) as upstream, reading(upstream) as events:
        first = await upstreams.opened(1)
        await upstream.send({"type": "session.update", "session": {"type": "realtime", "instructions": "ok"}})
        await upstream.send({"type": "session.update", "event_id": "evt_bad", "session": {"voice": 5}})
        await upstream.send(user("rejected", "item_bad"))
        await first.send(ev("error", error={"type": "invalid_request_error", "event_id": "evt_bad"}))
        await first.send(ev("error", error={"type": "invalid_request_error", "event_id": "evt_item_bad"}))
        with anyio.fail_after(5):
            for _ in range(2):
                assert (await events.receive())["type"] == "error"  # the client's own errors pass on
        await first.aclose()
        second = await upstreams.opened(2)
        replay = await drain(second)
    assert replay[0]["session"] == {"type": "realtime", "instructions": "ok"}
    assert [e["type"] for e in replay] == ["session.update"]
