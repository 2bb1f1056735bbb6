"""Simulator test helpers: a connection that checks every server event against the GA SDK types."""

from __future__ import annotations

import base64
import math
import struct
import typing
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from openai.types.realtime import RealtimeServerEvent

from mcp_voice.channels import EventChannel
from mcp_voice.sim import SimConfig
from mcp_voice.upstreams import open_upstream

TIMEOUT_S = 10.0
"""Per wait: generous for a loaded 2-core machine; the waits normally end in milliseconds."""

_GA_CLASSES: dict[str, type] = {}
for _cls in typing.get_args(typing.get_args(RealtimeServerEvent)[0]):
    (_literal,) = typing.get_args(_cls.model_fields["type"].annotation)
    _GA_CLASSES[_literal] = _cls


def validate_ga(event: dict[str, Any]) -> Any:
    """The SDK model for `event`, chosen by its `type` (not by pydantic's best guess)."""
    cls = _GA_CLASSES.get(event.get("type", ""))
    assert cls is not None, f"not a GA server event type: {event.get('type')!r}"
    return cls.model_validate(event)


class Wire:
    """A GA upstream channel that validates and records everything it receives."""

    def __init__(self, channel: EventChannel) -> None:
        self.channel = channel
        self.seen: list[dict[str, Any]] = []

    async def send(self, event: dict[str, Any] | str) -> None:
        await self.channel.send(event)  # type: ignore[arg-type]

    async def receive(self) -> dict[str, Any]:
        with anyio.fail_after(TIMEOUT_S):
            event = await self.channel.receive()
        assert isinstance(event, dict), event
        validate_ga(event)
        self.seen.append(event)
        return event

    async def until(self, kind: str) -> list[dict[str, Any]]:
        """Events up to and including the next one of type `kind`."""
        got = []
        while True:
            event = await self.receive()
            got.append(event)
            if event["type"] == kind:
                return got

    async def expect(self, kind: str) -> dict[str, Any]:
        """The next event, which must be of type `kind` (a `rate_limits.updated` after a response aside)."""
        event = await self.receive()
        while event["type"] == "rate_limits.updated" and kind != event["type"]:
            assert self.seen[-2]["type"] == "response.done", self.seen[-2:]
            event = await self.receive()
        assert event["type"] == kind, event
        return event

    async def user_text(self, text: str) -> str:
        await self.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": text}],
                },
            }
        )
        added = await self.expect("conversation.item.added")
        await self.expect("conversation.item.done")
        return added["item"]["id"]

    async def update(self, **session: Any) -> dict[str, Any]:
        await self.send({"type": "session.update", "session": {"type": "realtime", **session}})
        return (await self.expect("session.updated"))["session"]


@asynccontextmanager
async def connect(
    config: SimConfig | None = None, *, vad: bool = False, **session: Any
) -> AsyncIterator[Wire]:
    """A fresh simulator session over a real WebSocket; VAD off unless asked (tests send text)."""
    async with open_upstream("sim", model="gpt-realtime", sim_config=config or SimConfig(speed=0)) as channel:
        wire = Wire(channel)
        await wire.expect("session.created")
        if not vad or session:
            audio = {} if vad else {"audio": {"input": {"turn_detection": None}}}
            await wire.update(**audio, **session)
        yield wire


def pcm(ms: int, amplitude: int, hz: float = 300.0) -> bytes:
    """`ms` of a PCM16 24 kHz sine (amplitude 0: silence)."""
    n = 24 * ms
    return struct.pack(f"<{n}h", *(int(amplitude * math.sin(2 * math.pi * hz * i / 24000)) for i in range(n)))


def append_event(audio: bytes) -> dict[str, Any]:
    return {"type": "input_audio_buffer.append", "audio": base64.b64encode(audio).decode()}
