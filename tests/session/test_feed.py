"""ClientFeed alone: the order a client gets when responses with host calls overlap."""

from __future__ import annotations

from typing import Any

import pytest

from mcp_voice.session.feed import ClientFeed

pytestmark = pytest.mark.anyio

Event = dict[str, Any]


def done(rid: str) -> Event:
    return {"type": "response.done", "response": {"id": rid}}


def created(rid: str) -> Event:
    return {"type": "response.created", "response": {"id": rid}}


def mark(name: str) -> Event:
    return {"type": name}


async def test_overlapping_held_responses_release_in_order() -> None:
    sent: list[str] = []

    async def send(event: Event) -> None:
        rid = (event.get("response") or {}).get("id")
        sent.append(f"{event['type']}:{rid}" if rid else event["type"])

    feed = ClientFeed(send, lambda event: event)
    feed.open_call("r1", "a")
    await feed.upstream(done("r1"))  # held: its call runs
    assert sent == [] and feed.holding
    await feed.upstream(mark("input_audio_buffer.speech_started"))  # input flows past
    await feed.upstream(created("r2"))
    feed.open_call("r2", "b")
    await feed.call_events("r2", [mark("b.in_progress")])  # behind r1: queued
    await feed.upstream(done("r2"))
    await feed.close_call("r2", "b", [mark("b.completed")])  # r2's call ends first: still behind r1
    assert sent == ["input_audio_buffer.speech_started"]
    await feed.close_call("r1", "a", [mark("a.completed")])
    assert sent == [
        "input_audio_buffer.speech_started",
        "a.completed",
        "response.done:r1",
        "response.created:r2",
        "b.in_progress",
        "b.completed",  # before its own response.done, though it was queued after it
        "response.done:r2",
    ]
    assert not feed.holding


async def test_a_second_held_response_waits_for_its_own_call() -> None:
    sent: list[str] = []

    async def send(event: Event) -> None:
        rid = (event.get("response") or {}).get("id")
        sent.append(f"{event['type']}:{rid}" if rid else event["type"])

    feed = ClientFeed(send, lambda event: event)
    feed.open_call("r1", "a")
    await feed.upstream(done("r1"))
    await feed.upstream(created("r2"))
    feed.open_call("r2", "b")
    await feed.upstream(done("r2"))
    await feed.upstream(created("r3"))
    await feed.close_call("r1", "a", [mark("a.completed")])
    assert sent == ["a.completed", "response.done:r1", "response.created:r2"]
    assert feed.holding  # r2's call still runs: r2's done and r3 wait
    await feed.close_call("r2", "b", [mark("b.completed")])
    assert sent[3:] == ["b.completed", "response.done:r2", "response.created:r3"]


async def test_presented_when_released_and_hidden_events_dropped() -> None:
    """Held events are presented at release (so response.done shows finished calls); None drops one."""
    shown: list[Event] = []
    calls_done: list[str] = []

    async def send(event: Event) -> None:
        shown.append(event)

    def present(event: Event) -> Event | None:
        if event["type"] == "hidden":
            return None
        return {**event, "seen_after": list(calls_done)}

    feed = ClientFeed(send, present)
    feed.open_call("r1", "a")
    await feed.upstream(done("r1"))
    await feed.upstream(mark("hidden"))
    calls_done.append("a")
    await feed.close_call("r1", "a", [])
    assert [e["type"] for e in shown] == ["response.done"]
    assert shown[0]["seen_after"] == ["a"]


async def test_a_held_response_does_not_hold_a_response_that_was_already_running() -> None:
    """An out-of-band response (or any response created before the hold) streams on; a response
    created after the held one, and events naming no response, wait behind it."""
    sent: list[str] = []

    async def send(event: Event) -> None:
        rid = event.get("response_id") or (event.get("response") or {}).get("id")
        sent.append(f"{event['type']}:{rid}" if rid else event["type"])

    def delta(rid: str) -> Event:
        return {"type": "response.output_audio.delta", "response_id": rid, "delta": "AAAA"}

    feed = ClientFeed(send, lambda event: event)
    await feed.upstream(created("oob"))
    feed.open_call("r1", "a")
    await feed.upstream(done("r1"))  # held: its call runs
    await feed.upstream(delta("oob"))  # already running: not held
    await feed.upstream(created("r2"))  # after the hold: waits, and so do its events
    await feed.upstream(delta("r2"))
    await feed.upstream(mark("conversation.item.added"))  # names no response: waits
    await feed.upstream(done("oob"))
    assert sent == [
        "response.created:oob",
        "response.output_audio.delta:oob",
        "response.done:oob",
    ]
    await feed.close_call("r1", "a", [mark("a.completed")])
    assert sent[3:] == [
        "a.completed",
        "response.done:r1",
        "response.created:r2",
        "response.output_audio.delta:r2",
        "conversation.item.added",
    ]
    assert not feed.holding
    await feed.upstream(delta("r2"))  # nothing held any more: straight through
    assert sent[-1] == "response.output_audio.delta:r2"
