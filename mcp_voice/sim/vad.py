"""The input audio buffer with an energy VAD, as `server_vad` turn detection sees it.

Audio is judged in 10 ms frames: a frame whose RMS level reaches `threshold * RMS_PER_THRESHOLD`
of full scale is speech. Speech starts at the first loud frame (reported `prefix_padding_ms`
earlier) and stops once `silence_duration_ms` of quiet frames follow it; the speech is then
committed as one user turn. Positions are milliseconds of all audio appended in the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from mcp_voice.protocol.events import new_item_id
from mcp_voice.sim.audio import AudioFormat, decode, rms

FRAME_MS = 10
RMS_PER_THRESHOLD = 0.04
"""threshold 0.5 (the default) -> speech at 2% of full scale RMS, about -34 dBFS."""


@dataclass(frozen=True)
class VadEvent:
    kind: Literal["started", "stopped"]
    ms: int
    item_id: str
    audio: bytes = b""
    """For `stopped`: the committed speech (with its padding and trailing silence)."""


class InputAudioBuffer:
    """Appended audio not yet committed, plus the VAD state over it."""

    def __init__(self, fmt: AudioFormat, turn_detection: dict[str, Any] | None) -> None:
        self.configure(fmt, turn_detection)
        self._buf = bytearray()
        self._buf_start_ms = 0.0
        self._pending = b""  # less than a frame, not judged yet
        self._pos_ms = 0.0  # end of the judged audio
        self._speaking = False
        self._silence_ms = 0
        self._item_id = ""

    def configure(self, fmt: AudioFormat, turn_detection: dict[str, Any] | None) -> None:
        self.fmt = fmt
        td = turn_detection or {}
        self.vad = td.get("type") in ("server_vad", "semantic_vad")
        self.threshold = float(td.get("threshold") or 0.5) * RMS_PER_THRESHOLD
        self.silence_ms = int(td.get("silence_duration_ms") or 500)
        self.prefix_ms = int(td.get("prefix_padding_ms") or 300)

    @property
    def speaking(self) -> bool:
        return self._speaking

    @property
    def position_ms(self) -> float:
        """Where the input audio of the session has got to (all appended audio)."""
        return self._pos_ms + len(self._pending) / self.fmt.bytes_per_ms

    @property
    def ms(self) -> float:
        """Duration of the uncommitted audio."""
        return (len(self._buf) + len(self._pending)) / self.fmt.bytes_per_ms

    def append(self, data: bytes) -> list[VadEvent]:
        if not self.vad:
            if self._pending:  # left over from when VAD was on: it came first
                self._buf += self._pending
                self._pending = b""
            self._buf += data
            self._pos_ms += len(data) / self.fmt.bytes_per_ms
            return []
        frame_bytes = FRAME_MS * self.fmt.bytes_per_ms
        data = self._pending + data if self._pending else data
        events: list[VadEvent] = []
        end = len(data) - len(data) % frame_bytes
        for i in range(0, end, frame_bytes):
            event = self._judge(data[i : i + frame_bytes])
            if event is not None:
                events.append(event)
        self._pending = data[end:]
        return events

    def _judge(self, frame: bytes) -> VadEvent | None:
        loud = rms(decode(frame, self.fmt)) >= self.threshold
        start = self._pos_ms
        self._buf += frame
        self._pos_ms += FRAME_MS
        if not self._speaking:
            if loud:
                self._speaking, self._silence_ms, self._item_id = True, 0, new_item_id()
                audio_start = max(self._buf_start_ms, start - self.prefix_ms)
                self._drop_before(audio_start)
                return VadEvent("started", int(audio_start), self._item_id)
            self._drop_before(self._pos_ms - self.prefix_ms)
            return None
        self._silence_ms = 0 if loud else self._silence_ms + FRAME_MS
        if self._silence_ms < self.silence_ms:
            return None
        self._speaking = False
        audio = self._take()
        return VadEvent("stopped", int(self._pos_ms), self._item_id, audio)

    def _drop_before(self, ms: float) -> None:
        if ms <= self._buf_start_ms:
            return
        cut = int((ms - self._buf_start_ms) * self.fmt.bytes_per_ms)
        cut -= cut % 2 if self.fmt.type == "audio/pcm" else 0
        del self._buf[:cut]
        self._buf_start_ms += cut / self.fmt.bytes_per_ms

    def _take(self) -> bytes:
        audio = bytes(self._buf)
        self._buf.clear()
        self._buf_start_ms = self._pos_ms
        return audio

    def commit(self) -> tuple[bytes, str]:
        """All uncommitted audio and the item id it becomes (the VAD's, if speech is under way)."""
        self._buf += self._pending
        self._pos_ms += len(self._pending) / self.fmt.bytes_per_ms
        self._pending = b""
        item_id = self._item_id if self._speaking else new_item_id()
        self._speaking = False
        return self._take(), item_id

    def clear(self) -> None:
        self._pos_ms += len(self._pending) / self.fmt.bytes_per_ms
        self._pending = b""
        self._speaking = False
        self._take()
