"""ReconnectingUpstream: an upstream `EventChannel` that survives drops and the session time limit.

Realtime sessions end: the network drops, the server closes, and OpenAI ends every session after
60 minutes (close 1001). Whoever holds the client connection (the relay, the phone bridge, the
SIP sideband) wraps its upstream in this, so the client stays connected and nothing is lost:

- `restore` (a session of our own: relay, Twilio): the new upstream session gets the session
  config (the last `session.update` state: tools, instructions, audio formats) and the
  conversation so far (`protocol.replay`); the events the replay causes are not passed on. Before
  the upstream's maximum duration it rolls over to a fresh session at a quiet moment.
- `resume` (the session lives on at the server, e.g. an OpenAI SIP call's sideband): reconnect
  with the same opener and carry on; nothing is replayed.

During the gap sends are held (audio within a bound, then dropped with a warning) and sent once
the new session is ready. A response active at the drop is ended with a `response.done` of
status `failed` (code `upstream_reconnecting`), and a user turn in progress with
`input_audio_buffer.cleared`, so the host's sequencer and the client see a consistent state. When
reconnecting fails for good, `receive` yields a GA `error` (code `upstream_unavailable`) and then
raises `ChannelClosed`.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import anyio
import anyio.abc
import orjson

from mcp_voice.channels import ChannelClosed, EventChannel
from mcp_voice.protocol.events import error_event, new_event_id
from mcp_voice.protocol.mirror import SessionMirror
from mcp_voice.protocol.shapes import checked

logger = logging.getLogger(__name__)

Event = dict[str, Any]
Opener = Callable[[], AbstractAsyncContextManager[EventChannel]]
"""A fresh upstream connection each time it is called (e.g. `lambda: open_upstream(target, ...)`)."""

OPENAI_MAX_SESSION_S = 60 * 60
DEFAULT_ROLLOVER_S = 55 * 60
"""Five minutes before OpenAI's limit: time to find a quiet moment."""
QUIET_POLL_S = 0.2
_APPEND = "input_audio_buffer.append"
_ECHOES = frozenset(
    {"session.created", "session.updated", "error", "conversation.item.added", "conversation.item.done"}
)
"""What a replay makes the new session send back (passed on only if it is not an echo)."""


NORMAL_CLOSURE = 1000
"""In resume mode (a call's sideband), the server closing normally means the call ended."""


@dataclass(frozen=True)
class ReconnectPolicy:
    """How hard to try, and what to hold meanwhile (the `[session]` keys `reconnect_*`)."""

    attempts: int = 6
    """Reconnect attempts after a drop before giving up (0: never reconnect)."""
    initial_backoff_s: float = 0.25
    max_backoff_s: float = 8.0
    rollover_after_s: float | None = DEFAULT_ROLLOVER_S
    """Open a fresh session (restore mode) once the current one is this old; None: never."""
    replay_budget_chars: int = 60_000
    """Text moved to a new session at most; older turns are summarised into a system message."""
    gap_audio_chars: int = 1_280_000
    """Base64 audio held during a gap (about 20 s of 24 kHz PCM16); more is dropped with a warning."""
    gap_events: int = 1_000
    """Other events held during a gap; more are dropped with a warning."""

    def backoff_s(self, attempt: int) -> float:
        """Exponential backoff with jitter (half to all of the step), so many sessions spread out."""
        step = min(self.max_backoff_s, self.initial_backoff_s * 2 ** max(0, attempt - 1))
        return step * random.uniform(0.5, 1.0)


class ReconnectingUpstream:
    """An `EventChannel` over successive upstream connections. Use as `async with`.

    Each connection's events are checked where they enter (`protocol.shapes.checked`), so the
    mirror reads only sound shapes.
    """

    events_checked = True

    def __init__(
        self,
        opener: Opener,
        *,
        policy: ReconnectPolicy | None = None,
        mode: Literal["restore", "resume"] = "restore",
        on_reconnect: Callable[[str], None] | None = None,
    ) -> None:
        self._opener = opener
        self._on_reconnect = on_reconnect
        """Told "drop" or "rollover" each time a new connection takes over (metrics count them)."""
        self._next_reason = "drop"
        self.policy = policy or ReconnectPolicy()
        self.mode = mode
        self.mirror = SessionMirror()
        """What a drop must settle, and what a new session must be given."""
        self.reconnects = 0
        self.rollovers = 0
        self._channel: EventChannel | None = None
        self._changed = anyio.Event()
        self._lost = anyio.Event()
        self._lost_reason = ""
        self._rolling = False
        self._failed: str | None = None
        self._failure_told = False
        self._ended: str | None = None
        """resume mode: the server closed normally (the call is over), so there is nothing to rejoin."""
        self._closing = False
        self._task_group: anyio.abc.TaskGroup | None = None
        self._first_error: Exception | None = None
        # The gap:
        self._held: deque[Event | str] = deque()
        self._held_audio = 0
        self._held_dropped = 0
        self._synthetic: deque[Event] = deque()
        # Echoes of a replay, not passed on:
        self._swallow_items: set[str] = set()
        self._swallow_errors: dict[str, str | None] = {}
        """event_id of a replayed event -> the item it creates (None: the session config)."""
        self._swallow_updated = 0
        self._swallow_created = 0

    # -- lifecycle ----------------------------------------------------------------------------------

    async def __aenter__(self) -> ReconnectingUpstream:
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        try:
            await self._task_group.start(self._supervise)
        except BaseException as exc:
            await self._close_group(type(exc), exc, exc.__traceback__)
            raise
        if self._first_error is not None:  # raised as itself, not wrapped in an ExceptionGroup
            await self._close_group(None, None, None)
            raise self._first_error
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
        await self._close_group(exc_type, exc, tb)

    async def _close_group(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task_group is not None:
            task_group, self._task_group = self._task_group, None
            task_group.cancel_scope.cancel()
            await task_group.__aexit__(exc_type, exc, tb)

    async def aclose(self) -> None:
        self._closing = True
        self._lost.set()
        self._signal()

    @property
    def connected(self) -> bool:
        return self._channel is not None

    # -- the channel --------------------------------------------------------------------------------

    async def send(self, event: Event | str) -> None:
        if self._failed is not None or self._ended is not None or self._closing:
            raise ChannelClosed(self._failed or self._ended or "upstream closed")
        if type(event) is dict:
            event = self.mirror.prepare(event)
        channel = self._channel
        if channel is None:
            self._hold(event)
            return
        try:
            await channel.send(event)
        except ChannelClosed as exc:
            self._drop(channel, str(exc) or "upstream connection closed")
            self._hold(event)
            return
        if type(event) is dict:
            self.mirror.sent(event)

    async def receive(self) -> Event | str:
        while True:
            if self._synthetic:
                return self._synthetic.popleft()
            channel = self._channel
            if channel is None:
                if self._failed is not None:
                    if not self._failure_told:
                        self._failure_told = True
                        return self._failure_event()
                    raise ChannelClosed(self._failed)
                if self._ended is not None:
                    raise ChannelClosed(self._ended)
                if self._closing:
                    raise ChannelClosed("upstream closed")
                changed = self._changed
                await changed.wait()
                continue
            try:
                event = await channel.receive()
            except ChannelClosed as exc:
                self._drop(channel, str(exc) or "upstream connection closed")
                continue
            if type(event) is dict and not self._received(event):
                continue
            return event

    def _signal(self) -> None:
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    # -- supervision ----------------------------------------------------------------------------------

    async def _supervise(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        first = True
        attempt = 0
        while not self._closing:
            self._lost = anyio.Event()
            try:
                async with self._opener() as opened:
                    channel = checked(opened)
                    if not first:
                        await self._restore(channel)
                    self._publish(channel)
                    if first:
                        first = False
                        task_status.started()
                    attempt = 0
                    async with anyio.create_task_group() as watchers:
                        if self.mode == "restore" and self.policy.rollover_after_s is not None:
                            watchers.start_soon(self._roll_over_when_due, channel)
                        await self._lost.wait()
                        watchers.cancel_scope.cancel()
                    self._channel = None
            except Exception as exc:
                if first:
                    self._first_error = exc
                    task_status.started()
                    return
                self._channel = None
                self._lost_reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if self._closing or self._ended is not None:
                self._signal()
                return
            if self._rolling:
                self._rolling = False
                self._next_reason = "rollover"
                continue
            attempt += 1
            if attempt > self.policy.attempts:
                self._fail()
                return
            delay = self.policy.backoff_s(attempt)
            logger.warning(
                "upstream lost (%s); reconnecting in %.2fs (attempt %d of %d)",
                self._lost_reason,
                delay,
                attempt,
                self.policy.attempts,
            )
            await anyio.sleep(delay)

    def _publish(self, channel: EventChannel) -> None:
        self._channel = channel
        self._signal()

    def _drop(self, channel: EventChannel, reason: str) -> None:
        """The current connection failed: settle what was running, start reconnecting."""
        if channel is not self._channel:
            return  # an old connection (rolled over, or already dropped)
        self._channel = None
        self._lost_reason = reason
        if self.mode == "resume" and getattr(channel, "close_code", None) == NORMAL_CLOSURE:
            self._ended = reason  # a call's sideband closed normally: the call has ended
        if self.mode == "restore" and not self._closing:
            self._settle()
        self._lost.set()
        self._signal()

    def _settle(self) -> None:
        """End for the host and the client what the lost session was doing."""
        for response in self.mirror.active.values():
            done = {
                **response,
                "status": "failed",
                "status_details": {
                    "type": "failed",
                    "error": {"type": "server_error", "code": "upstream_reconnecting"},
                },
                "output": [],
            }
            self._synthetic.append({"type": "response.done", "event_id": new_event_id(), "response": done})
        self.mirror.active.clear()
        if self.mirror.speaking:
            self.mirror.speaking = False
            self._synthetic.append({"type": "input_audio_buffer.cleared", "event_id": new_event_id()})

    def _fail(self) -> None:
        self._failed = f"upstream unavailable: {self._lost_reason}"
        logger.warning(
            "giving up on the upstream after %d attempts: %s", self.policy.attempts, self._lost_reason
        )
        self._signal()

    def _failure_event(self) -> Event:
        return error_event(
            f"The connection to the realtime model was lost and could not be restored ({self._lost_reason}).",
            code="upstream_unavailable",
            type="server_error",
        )

    async def _roll_over_when_due(self, channel: EventChannel) -> None:
        """Before the server's limit, move to a fresh session at a quiet moment."""
        assert self.policy.rollover_after_s is not None
        await anyio.sleep(max(0.0, self.policy.rollover_after_s))
        # Polled only once a rollover is due: cheaper than a signal on every upstream event.
        while not self._quiet():  # noqa: ASYNC110
            await anyio.sleep(QUIET_POLL_S)
        if channel is self._channel:
            logger.info("rolling the upstream session over to a fresh one")
            self.rollovers += 1
            self._rolling = True
            self._channel = None
            self._lost_reason = "session rollover"
            self._lost.set()

    def _quiet(self) -> bool:
        """No response running or asked for, the user not speaking, no replay still settling."""
        return not (
            self.mirror.active
            or self.mirror.pending_creates
            or self.mirror.speaking
            or self._swallow_items
            or self._held
        )

    # -- restoring --------------------------------------------------------------------------------------

    async def _restore(self, channel: EventChannel) -> None:
        """Bring a fresh connection up to date, then send what was held during the gap."""
        self.reconnects += 1
        reason, self._next_reason = self._next_reason, "drop"
        if self._on_reconnect is not None:
            try:
                self._on_reconnect(reason)
            except Exception:
                logger.warning("on_reconnect callback failed", exc_info=True)
        self._swallow_items.clear()
        self._swallow_errors.clear()
        self._swallow_updated = 0
        self._swallow_created = 1  # the new session's own `session.created`: the host has one
        if self.mode == "restore":
            session = self.mirror.session
            if session:
                event: Event = {"type": "session.update", "event_id": new_event_id(), "session": session}
                self._swallow_errors[event["event_id"]] = None
                self._swallow_updated += 1
                await channel.send(event)
            items = self.mirror.log.replay_items(self.policy.replay_budget_chars)
            for item in items:
                create: Event = {"type": "conversation.item.create", "event_id": new_event_id(), "item": item}
                self._swallow_errors[create["event_id"]] = item["id"]
                self._swallow_items.add(item["id"])
                await channel.send(create)
            for create in list(self.mirror.pending_creates.values()):
                await channel.send(create)  # asked for before the drop, never started
            logger.info("upstream restored: %d item(s) replayed", len(items))
        while self._held:
            held = self._held[0]
            await channel.send(held)
            self._held.popleft()
            if isinstance(held, dict):
                self.mirror.sent(held)
        self._held_audio = 0
        if self._held_dropped:
            logger.warning("dropped %d event(s) sent while the upstream was away", self._held_dropped)
            self._held_dropped = 0

    def _hold(self, event: Event | str) -> None:
        """Keep a send for the next connection (raw text is always an audio append: the host's
        only verbatim forward); beyond the bounds it is dropped, with one warning per gap."""
        if isinstance(event, dict) and event.get("type") == _APPEND:
            event = orjson.dumps(event).decode()
        if isinstance(event, str):
            if self._held_audio + len(event) > self.policy.gap_audio_chars:
                if not self._held_dropped:
                    logger.warning("upstream away: input audio beyond the gap buffer is dropped")
                self._held_dropped += 1
                return
            self._held_audio += len(event)
        elif len(self._held) >= self.policy.gap_events:
            logger.warning("upstream away: dropped a %.40r event beyond the gap buffer", event.get("type"))
            self._held_dropped += 1
            return
        self._held.append(event)

    # -- what passes --------------------------------------------------------------------------------------

    def _received(self, event: Event) -> bool:
        """Track one upstream event; False if it is an echo of a replay (not passed on)."""
        kind = event["type"]
        if kind in _ECHOES and not self._passes(kind, event):
            return False
        self.mirror.received(kind, event)
        return True

    def _passes(self, kind: str, event: Event) -> bool:
        """Whether a possible echo of the replay is a real event after all."""
        if kind == "session.created" and self._swallow_created:
            self._swallow_created -= 1
            return False
        if kind == "session.updated" and self._swallow_updated:
            self._swallow_updated -= 1
            return False
        if kind == "error":  # shapes checked where the event entered (protocol.shapes)
            error = event["error"]
            event_id = error.get("event_id")
            if event_id is not None and event_id in self._swallow_errors:
                self._swallow_items.discard(self._swallow_errors.pop(event_id))  # type: ignore[arg-type]
                logger.warning("the new upstream session refused part of the replay: %.200s", error)
                return False
            return True
        item_id = event.get("item", {}).get("id")
        if item_id is not None and item_id in self._swallow_items:
            if kind == "conversation.item.done":
                self._swallow_items.discard(item_id)
            return False
        return True
