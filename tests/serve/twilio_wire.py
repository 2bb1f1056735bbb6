"""Playing Twilio at the wire: a caller on the media WebSocket, signatures, a scripted upstream.

`TwilioCaller` speaks Media Streams exactly as Twilio does (string sequenceNumber, chunk and
timestamp; `dtmf.track` = "inbound_track"; marks echoed only when the test says they played).
`ScriptedUpstream` is a loopback GA server the test drives event by event, recording what the
host sends it; `RecordingOpener` wraps the real simulator and records both directions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import numpy as np
import websockets
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from mcp_voice import g711
from mcp_voice.sim import SimConfig
from mcp_voice.upstreams import open_upstream

Event = dict[str, Any]
WAIT_S = 10.0
"""Per wait: generous for a loaded 2-core machine; waits normally end in milliseconds."""
STREAM_SID = "MZ00000000000000000000000000000001"
CALL_SID = "CA00000000000000000000000000000001"
ACCOUNT_SID = "AC00000000000000000000000000000001"
PUBLIC_URL = "https://phone.example.test"
AUTH_TOKEN = "twilio-test-auth-token"


def twilio_signature(token: str, url: str, params: dict[str, str] | None = None) -> str:
    """What Twilio puts in X-Twilio-Signature: base64 HMAC-SHA1 of the URL + sorted name+value."""
    data = url + "".join(name + params[name] for name in sorted(params or {}))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def tone_frame(amplitude: int, ms: int = 20) -> bytes:
    """`ms` of a 300 Hz tone in μ-law (amplitude 0: silence)."""
    n = 8 * ms
    samples = (amplitude * np.sin(np.arange(n) * 2 * np.pi * 300 / 8000)).astype(np.int16)
    return g711.ulaw_encode(samples)


@dataclass
class Received:
    media: list[bytes] = field(default_factory=list)
    marks: list[str] = field(default_factory=list)
    clears: int = 0
    log: list[Event] = field(default_factory=list)


class TwilioCaller:
    """Twilio's side of one media stream."""

    def __init__(self, ws: websockets.ClientConnection, stream_sid: str = STREAM_SID) -> None:
        self.ws = ws
        self.stream_sid = stream_sid
        self.sequence = 0
        self.chunk = 0
        self.timestamp = 0
        self.got = Received()

    async def send(self, message: Event) -> None:
        await self.ws.send(json.dumps(message))

    def _next(self) -> str:
        self.sequence += 1
        return str(self.sequence)

    async def start(self, parameters: dict[str, str] | None = None) -> None:
        await self.send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await self.send(
            {
                "event": "start",
                "sequenceNumber": self._next(),
                "streamSid": self.stream_sid,
                "start": {
                    "accountSid": ACCOUNT_SID,
                    "streamSid": self.stream_sid,
                    "callSid": CALL_SID,
                    "tracks": ["inbound"],
                    "customParameters": parameters or {},
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
            }
        )

    async def media(self, payload: bytes) -> None:
        self.chunk += 1
        await self.send(
            {
                "event": "media",
                "sequenceNumber": self._next(),
                "streamSid": self.stream_sid,
                "media": {
                    "track": "inbound",
                    "chunk": str(self.chunk),
                    "timestamp": str(self.timestamp),
                    "payload": base64.b64encode(payload).decode(),
                },
            }
        )
        self.timestamp += len(payload) // 8

    async def speak(self, ms: int, amplitude: int = 8000) -> None:
        for _ in range(ms // 20):
            await self.media(tone_frame(amplitude))

    async def silence(self, ms: int) -> None:
        await self.speak(ms, 0)

    async def dtmf(self, digit: str) -> None:
        await self.send(
            {
                "event": "dtmf",
                "streamSid": self.stream_sid,
                "sequenceNumber": self._next(),
                "dtmf": {"track": "inbound_track", "digit": digit},
            }
        )

    async def echo(self, name: str) -> None:
        """Twilio's mark echo: the audio queued before mark `name` has played."""
        await self.send(
            {
                "event": "mark",
                "sequenceNumber": self._next(),
                "streamSid": self.stream_sid,
                "mark": {"name": name},
            }
        )

    async def stop(self) -> None:
        await self.send(
            {
                "event": "stop",
                "sequenceNumber": self._next(),
                "streamSid": self.stream_sid,
                "stop": {"accountSid": ACCOUNT_SID, "callSid": CALL_SID},
            }
        )

    async def receive(self) -> Event:
        """The next message serve sent; checks the streamSid and records media, marks, clears."""
        with anyio.fail_after(WAIT_S):
            message = json.loads(await self.ws.recv())
        assert message.get("streamSid") == self.stream_sid, message
        self.got.log.append(message)
        kind = message["event"]
        if kind == "media":
            assert set(message) == {"event", "streamSid", "media"}, message
            self.got.media.append(base64.b64decode(message["media"]["payload"], validate=True))
        elif kind == "mark":
            self.got.marks.append(message["mark"]["name"])
        elif kind == "clear":
            self.got.clears += 1
        return message

    async def expect(self, kind: str) -> Event:
        message = await self.receive()
        assert message["event"] == kind, message
        return message

    async def media_and_mark(self) -> tuple[bytes, str]:
        """One chunk of assistant audio and the mark that must follow it."""
        media = await self.expect("media")
        mark = await self.expect("mark")
        return base64.b64decode(media["media"]["payload"]), mark["mark"]["name"]


@asynccontextmanager
async def call(where: str, *, headers: dict[str, str] | None = None) -> AsyncIterator[TwilioCaller]:
    async with websockets.connect(f"ws://{where}/twilio/media", additional_headers=headers) as ws:
        yield TwilioCaller(ws)


class ScriptedUpstream:
    """A loopback GA realtime server whose every event the test sends; records what it received."""

    def __init__(self, session: Event | None = None) -> None:
        self.port = 0
        self.session = session or {}
        """Server-side session state beyond the defaults (what an operator configured)."""
        self.ws: websockets.ServerConnection | None = None
        self.connected = anyio.Event()
        self.connections = 0
        self._connection_changed = anyio.Event()
        self.received: list[Event] = []
        self._send: MemoryObjectSendStream[Event]
        self._events: MemoryObjectReceiveStream[Event]
        self._send, self._events = anyio.create_memory_object_stream[Event](1000)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/realtime"

    async def handler(self, ws: websockets.ServerConnection) -> None:
        self.ws = ws
        self.connections += 1
        self._connection_changed.set()
        self._connection_changed = anyio.Event()
        session = {
            "type": "realtime",
            "object": "realtime.session",
            "id": "sess_scripted",
            "model": "m",
            **self.session,
        }
        await ws.send(json.dumps({"type": "session.created", "event_id": "ev_0", "session": session}))
        self.connected.set()
        async for message in ws:
            event = json.loads(message)
            self.received.append(event)
            self._send.send_nowait(event)
            if event["type"] == "session.update":  # confirmed like a real server (no other reply)
                session = {**session, **event["session"]}
                await ws.send(json.dumps({"type": "session.updated", "event_id": "ev_u", "session": session}))

    async def wait_connections(self, count: int) -> None:
        while self.connections < count:
            await self._connection_changed.wait()

    async def drop(self) -> None:
        """The upstream connection breaks (the server side closes it abnormally)."""
        assert self.ws is not None
        await self.ws.close(1011, "upstream went away")

    async def send(self, kind: str, **fields: Any) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps({"type": kind, "event_id": f"ev_{id(fields)}", **fields}))

    async def expect(self, kind: str, **match: Any) -> Event:
        """The next received event of type `kind` (and with these fields), skipping others."""
        with anyio.fail_after(WAIT_S):
            while True:
                event = await self._events.receive()
                if event["type"] == kind and all(event.get(k) == v for k, v in match.items()):
                    return event

    async def appended(self, count: int = 1) -> None:
        """Wait until `count` more caller frames arrived: everything Twilio sent before them is handled."""
        for _ in range(count):
            await self.expect("input_audio_buffer.append")

    async def audio(self, item_id: str, data: bytes, response_id: str = "resp_1") -> None:
        await self.send(
            "response.output_audio.delta",
            response_id=response_id,
            item_id=item_id,
            output_index=0,
            content_index=0,
            delta=base64.b64encode(data).decode(),
        )


@asynccontextmanager
async def scripted_upstream(session: Event | None = None) -> AsyncIterator[ScriptedUpstream]:
    upstream = ScriptedUpstream(session)
    async with websockets.serve(upstream.handler, "127.0.0.1", 0) as server:
        upstream.port = server.sockets[0].getsockname()[1]
        yield upstream


class RecordingOpener:
    """`open_upstream` to a fast simulator, recording what the host sent and received."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig(speed=0)
        self.sent: list[Event] = []
        self.received: list[Event] = []

    @asynccontextmanager
    async def __call__(self, target: str, *, model: str, api_key: str | None = None) -> AsyncIterator[Any]:
        async with open_upstream("sim", model=model, sim_config=self.config) as channel:
            yield _Recorded(channel, self)


class _Recorded:
    def __init__(self, channel: Any, opener: RecordingOpener) -> None:
        self.channel = channel
        self.opener = opener

    async def send(self, event: Event | str) -> None:
        self.opener.sent.append(json.loads(event) if isinstance(event, str) else event)
        await self.channel.send(event)

    async def receive(self) -> Event | str:
        event = await self.channel.receive()
        if isinstance(event, dict):
            self.opener.received.append(event)
        return event

    async def aclose(self) -> None:
        await self.channel.aclose()
