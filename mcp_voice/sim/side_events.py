"""What a real server sends beside the conversation, so clients render what they would with OpenAI.

- Input transcription: with `audio.input.transcription` set, each committed user audio item gets
  `conversation.item.input_audio_transcription.delta` events and `.completed` with a fixed
  transcript (`SimConfig.transcript`): the simulator understands no speech.
- `rate_limits.updated` after each `response.done`, with token counts that go down as responses
  use tokens (`usage.total_tokens`), like the real server's.
- `server_vad.idle_timeout_ms`: once the last response's audio has played, silence for that long
  gives `input_audio_buffer.timeout_triggered`, and the silence becomes a user turn that is
  answered (OpenAI: "the model will effectively prompt the user to continue").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.abc

from mcp_voice.protocol.events import new_event_id

Event = dict[str, Any]
REQUESTS_PER_MINUTE = 5_000
TOKENS_PER_MINUTE = 400_000


def transcription_on(session: Event) -> bool:
    return bool(session["audio"]["input"].get("transcription"))


def transcription_events(item_id: str, transcript: str, audio_ms: int) -> list[Event]:
    """The deltas (a word or so each) and the completed transcript of one user audio item."""
    words = transcript.split(" ")
    deltas = [word if i == 0 else f" {word}" for i, word in enumerate(words)]
    events: list[Event] = [
        {
            "type": "conversation.item.input_audio_transcription.delta",
            "event_id": new_event_id(),
            "item_id": item_id,
            "content_index": 0,
            "delta": delta,
        }
        for delta in deltas
    ]
    events.append(
        {
            "type": "conversation.item.input_audio_transcription.completed",
            "event_id": new_event_id(),
            "item_id": item_id,
            "content_index": 0,
            "transcript": transcript,
            "usage": {"type": "duration", "seconds": round(audio_ms / 1000, 3)},
        }
    )
    return events


class RateLimits:
    """Per-session counters behind `rate_limits.updated` (the window never resets: sessions are short)."""

    def __init__(self) -> None:
        self.requests = REQUESTS_PER_MINUTE
        self.tokens = TOKENS_PER_MINUTE

    def after(self, done: Event) -> Event:
        usage = (done.get("response") or {}).get("usage") or {}
        self.requests = max(0, self.requests - 1)
        self.tokens = max(0, self.tokens - int(usage.get("total_tokens") or 0))
        return {
            "type": "rate_limits.updated",
            "event_id": new_event_id(),
            "rate_limits": [
                {
                    "name": "requests",
                    "limit": REQUESTS_PER_MINUTE,
                    "remaining": self.requests,
                    "reset_seconds": 60.0,
                },
                {
                    "name": "tokens",
                    "limit": TOKENS_PER_MINUTE,
                    "remaining": self.tokens,
                    "reset_seconds": 60.0,
                },
            ],
        }


class IdleTimer:
    """`idle_timeout_ms`: armed when a response ends (after its audio plays), disarmed by any turn."""

    def __init__(self, fire: Callable[[], Awaitable[None]]) -> None:
        self._fire = fire
        self._scope: anyio.CancelScope | None = None

    def arm(self, task_group: anyio.abc.TaskGroup, seconds: float) -> None:
        self.disarm()
        scope = self._scope = anyio.CancelScope()
        task_group.start_soon(self._wait, scope, seconds)

    def disarm(self) -> None:
        if self._scope is not None:
            self._scope.cancel()
            self._scope = None

    async def _wait(self, scope: anyio.CancelScope, seconds: float) -> None:
        with scope:
            await anyio.sleep(seconds)
            if self._scope is scope:
                self._scope = None
                scope.shield = True  # the turn it starts must not be cut short by a late disarm
                await self._fire()


def idle_timeout_s(turn_detection: Event | None, speed: float) -> float | None:
    """Seconds until the timeout fires, counted from `response.done` (None: no timeout).

    The simulator streams audio at playback pace, so its audio has played by `response.done`.
    """
    if not turn_detection or turn_detection.get("type") != "server_vad":
        return None
    timeout = turn_detection.get("idle_timeout_ms")
    if not isinstance(timeout, int) or timeout <= 0:
        return None
    pace = speed if speed > 0 else 1.0
    return timeout / 1000 * pace
