"""One phone call: a Twilio media stream turned into the client side of a `SessionHost`.

The host never knows it is on the phone. `TwilioClient` is the `EventChannel` it talks to:
Twilio `media` becomes `input_audio_buffer.append` (the μ-law payload as is: the session runs
`audio/pcmu` both ways, nothing is resampled); assistant audio deltas go back as Twilio `media`
with a `mark` after each; echoed marks feed the `PlaybackTracker`. When the caller starts
speaking the bridge `clear`s Twilio's queue, truncates each assistant item to what was heard,
cancels the response if turn detection does not already, and drops audio still arriving for
it. The host's own barge-in work (each running call's policy) runs on the same event.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from typing import Any

import anyio
import orjson
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from mcp_voice.channels import ChannelClosed, Event
from mcp_voice.protocol.events import new_event_id
from mcp_voice.serve.channel import WebSocketChannel
from mcp_voice.serve.twilio.playback import PlaybackTracker, Unplayed

log = logging.getLogger("mcp_voice.serve.twilio")

PCMU = {"type": "audio/pcmu"}
CONFIGURE_TIMEOUT_S = 5.0
MAX_CHUNK_CHARS = 4 * (100 * 8 // 3)
"""Base64 characters of ~100 ms of μ-law (798 bytes), a multiple of 4 so any cut is valid base64."""
MAX_SID_CHARS = 64
"""Twilio's sids are 34 characters; longer ones are not Twilio's (and would fill log lines)."""
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


@dataclass(frozen=True)
class StreamStart:
    """What Twilio's `start` message says about the call."""

    stream_sid: str
    call_sid: str | None = None
    account_sid: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, message: dict[str, Any]) -> StreamStart:
        raw_start = message.get("start")
        start: dict[str, Any] = raw_start if isinstance(raw_start, dict) else {}
        sid = message.get("streamSid") or start.get("streamSid")
        if not isinstance(sid, str) or not sid:
            raise ValueError("the start message names no streamSid")
        if len(sid) > MAX_SID_CHARS:
            raise ValueError(f"the start message's streamSid is longer than {MAX_SID_CHARS} characters")
        raw = start.get("customParameters")
        params = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
        call_sid, account_sid = start.get("callSid"), start.get("accountSid")
        if isinstance(call_sid, str) and len(call_sid) > MAX_SID_CHARS:
            raise ValueError(f"the start message's callSid is longer than {MAX_SID_CHARS} characters")
        return cls(
            stream_sid=sid,
            call_sid=call_sid if isinstance(call_sid, str) else None,
            account_sid=account_sid if isinstance(account_sid, str) else None,
            parameters=params,
        )


def pcmu_session_update() -> Event:
    """The session a phone call needs: G.711 μ-law in and out (Twilio's own format)."""
    return {
        "type": "session.update",
        "event_id": new_event_id(),
        "session": {"type": "realtime", "audio": {"input": {"format": PCMU}, "output": {"format": PCMU}}},
    }


def _decoded_len(payload: str) -> int:
    return len(payload) * 3 // 4 - payload.count("=", -2)


def pieces(delta: str) -> list[str]:
    """A long audio delta as chunks of at most ~100 ms, cut at base64 quanta (nothing decoded).

    A mark follows each chunk, so a barge-in is placed to within one chunk of what was heard even
    when the upstream sends a second of audio in one delta.
    """
    if len(delta) <= 2 * MAX_CHUNK_CHARS:
        return [delta]
    count = -(-len(delta) // MAX_CHUNK_CHARS)
    size = -(-len(delta) // (4 * count)) * 4
    return [delta[i : i + size] for i in range(0, len(delta), size)]


class TwilioClient:
    """The host's client channel for one call (`EventChannel`), and the pump from Twilio into it.

    `send` gets the host's client-bound events (assistant audio, speech_started, ...); `receive`
    gives the host what the caller did, fed by `pump_twilio` and by barge-in handling.
    """

    def __init__(self, twilio: WebSocketChannel, start: StreamStart) -> None:
        self.twilio = twilio
        self.start = start
        self.tracker = PlaybackTracker()
        self.response_active = False
        self.interrupts_response = True
        """Whether the session's turn detection cancels a response itself (`interrupt_response`)."""
        self.ended_by: str | None = None
        """"stop" once Twilio ended the stream, "closed" if the socket went without a stop."""
        self.configured = anyio.Event()
        """Set once the upstream confirmed the μ-law session (the host's own actions wait for it)."""
        self._sid = orjson.dumps(start.stream_sid).decode()
        self._to_host: MemoryObjectSendStream[Event | str]
        self._from_twilio: MemoryObjectReceiveStream[Event | str]
        self._to_host, self._from_twilio = anyio.create_memory_object_stream[Event | str](math.inf)
        self._send_lock = anyio.Lock()

    # -- EventChannel (the host's side) ---------------------------------------------------------

    async def receive(self) -> Event | str:
        try:
            return await self._from_twilio.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError) as exc:
            raise ChannelClosed(self._end_reason()) from exc

    async def send(self, event: Event | str) -> None:
        if isinstance(event, str):
            event = orjson.loads(event)
        if not isinstance(event, dict):
            return
        kind = event.get("type")
        if kind == "response.output_audio.delta":
            await self._play(event)
        elif kind == "input_audio_buffer.speech_started":
            await self._barge_in()
        elif kind == "response.created":
            self.response_active = True
        elif kind == "response.output_audio.done":
            self.tracker.finished(str(event.get("item_id") or ""))
        elif kind == "response.done":
            self.response_active = False
            self.tracker.finished()
        elif kind in ("session.created", "session.updated"):
            self._session(event.get("session") or {})
        elif kind == "error":
            error = event.get("error") or {}
            log.warning("call %s: %s (%s)", self.start.call_sid, error.get("message"), error.get("code"))

    async def aclose(self) -> None:
        self._to_host.close()
        await self.twilio.aclose()  # with the session's code and reason (1001 at a drain's end)

    def _end_reason(self) -> str:
        if self.ended_by == "stop":
            return "the caller hung up (Twilio stop)"
        return "the Twilio media stream closed"

    # -- host -> Twilio -------------------------------------------------------------------------

    async def _play(self, event: Event) -> None:
        if self.ended_by is not None:
            return  # the caller has gone; the session is only finishing its tool calls
        item_id, delta = str(event.get("item_id") or ""), event.get("delta")
        if not isinstance(delta, str) or not delta or item_id in self.tracker.cut:
            return  # audio of an item the caller interrupted: still arriving, never played
        async with self._send_lock:
            for chunk in pieces(delta):
                mark = self.tracker.sent(item_id, _decoded_len(chunk))
                # Built as text: the payload is base64 already (never re-encoded); streamSid is JSON.
                media = '{"event":"media","streamSid":' + self._sid + ',"media":{"payload":"' + chunk + '"}}'
                marker = '{"event":"mark","streamSid":' + self._sid + ',"mark":{"name":"' + mark + '"}}'
                await self.twilio.send(media)
                await self.twilio.send(marker)

    async def _barge_in(self) -> None:
        if self.ended_by is not None:
            return
        unplayed = self.tracker.interrupt()
        if unplayed:
            async with self._send_lock:
                await self.twilio.send('{"event":"clear","streamSid":' + self._sid + "}")
        for item in unplayed:
            await self._truncate(item)
        if self.response_active and not self.interrupts_response:
            await self._to_host.send({"type": "response.cancel", "event_id": new_event_id()})

    async def _truncate(self, unplayed: Unplayed) -> None:
        log.debug("barge-in: %s heard %d of %d ms", unplayed.item_id, unplayed.played_ms, unplayed.sent_ms)
        await self._to_host.send(
            {
                "type": "conversation.item.truncate",
                "event_id": new_event_id(),
                "item_id": unplayed.item_id,
                "content_index": 0,
                "audio_end_ms": unplayed.played_ms,
            }
        )

    def _session(self, session: Event) -> None:
        audio = session.get("audio")
        audio_in = audio.get("input") if isinstance(audio, dict) else None
        audio_out = audio.get("output") if isinstance(audio, dict) else None
        if isinstance(audio_out, dict) and (audio_out.get("format") or {}).get("type") == PCMU["type"]:
            self.configured.set()
        if not isinstance(audio_in, dict) or "turn_detection" not in audio_in:
            return
        detection = audio_in.get("turn_detection")
        self.interrupts_response = (
            isinstance(detection, dict) and detection.get("interrupt_response", True) is not False
        )

    # -- Twilio -> host -------------------------------------------------------------------------

    async def queue(self, event: Event | str) -> None:
        """Something for the host as if the client had sent it (the opening session.update)."""
        await self._to_host.send(event)

    async def pump_twilio(self, on_dtmf: Any, on_hangup: Any) -> None:
        """Read Twilio messages until `stop` or the socket closes; then the host's client ends.

        `on_hangup()` runs first (however the call ended): running tool calls get to follow their
        policy while the session still exists.
        """
        try:
            while True:
                try:
                    raw = await self.twilio.receive()
                except ChannelClosed:
                    self.ended_by = self.ended_by or "closed"
                    break
                if await self._from_twilio_message(raw, on_dtmf):
                    self.ended_by = "stop"
                    await self.twilio.close(1000, "call ended")  # what Twilio expects after its stop
                    break
            await on_hangup()
        finally:
            self._to_host.close()

    async def _from_twilio_message(self, raw: Event | str, on_dtmf: Any) -> bool:
        """Handle one Twilio message; True when it ends the stream."""
        try:
            message = orjson.loads(raw) if isinstance(raw, str) else raw
        except orjson.JSONDecodeError:
            log.warning("call %s: Twilio sent a non-JSON message: %.80r", self.start.call_sid, raw)
            return False
        if not isinstance(message, dict):
            return False
        kind = message.get("event")
        if kind == "media":
            media = message.get("media") or {}
            payload = media.get("payload") if isinstance(media, dict) else None
            track = media.get("track", "inbound") if isinstance(media, dict) else None
            if isinstance(payload, str) and payload and track == "inbound" and _BASE64.fullmatch(payload):
                # Raw text: the host forwards it upstream unchanged (the hot path: 50 frames a second).
                await self._to_host.send('{"type":"input_audio_buffer.append","audio":"' + payload + '"}')
        elif kind == "mark":
            mark = message.get("mark") or {}
            name = mark.get("name") if isinstance(mark, dict) else None
            if isinstance(name, str):
                self.tracker.echoed(name)
        elif kind == "dtmf":
            dtmf = message.get("dtmf") or {}
            digit = dtmf.get("digit") if isinstance(dtmf, dict) else None
            if isinstance(digit, str):
                # A keypress acts on the conversation directly, not through the client queue: it
                # must not overtake the session.update that makes replies μ-law.
                with anyio.move_on_after(CONFIGURE_TIMEOUT_S):
                    await self.configured.wait()
                await on_dtmf(digit)
        elif kind == "stop":
            return True
        return False
