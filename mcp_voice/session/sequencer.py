"""ResponseSequencer: the only sender of `response.create` upstream.

A conversation has at most one active response; a `response.create` sent while one is active
fails with `conversation_already_has_active_response`. The sequencer tracks the active response
(pending from our `response.create` until `response.created`, active until `response.done`,
including responses server VAD starts by itself) and queues every request, the client's and the
host's, behind it. Host requests also wait for the floor (not while the user speaks), coalesce
into one `response.create`, and are dropped when a response starts after their items reached the
conversation: that response already covers them, so nothing is spoken twice.

One read-back per call, whoever asks: a client that sees a host call end as a finished `mcp_call`
may ask for the read-back itself (@openai/agents-realtime does by default, as OpenAI's hosted MCP
needs). A plain client `response.create` that arrives while the host's read-back of such a call is
queued, requested or running joins it instead of starting another response. Some clients ask
only once they have seen the calling response end (@openai/agents-realtime's own sequencer holds
its request until no response is active), which can be after the host's read-back has started and
even after it ended. So the host learns, per session, whether its client asks: the first read-back
waits `readback_wait_s` for the client's request; if it comes, it starts the read-back (with the
client's `event_id`, so its sequencer sees its request answered) and later read-backs wait for the
client's request (at most `KNOWN_READBACK_WAIT_S`); if it does not, the host speaks at once from
then on.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import anyio

from mcp_voice.protocol.events import new_event_id, new_response_id
from mcp_voice.session.items import response_create

logger = logging.getLogger(__name__)

Event = dict[str, Any]
ALREADY_ACTIVE = "conversation_already_has_active_response"
VAD_RESPONSE_GRACE_S = 1.5
"""After a VAD commit, how long to wait for the response server VAD creates before sending ours."""
LATE_READBACK_S = 10.0
"""How long after a read-back a plain client request may still be that read-back's, asked late."""
KNOWN_READBACK_WAIT_S = 1.0
"""How long a read-back waits for a client known to ask for read-backs before the host asks itself."""

Later = Callable[[float, Callable[[], Awaitable[None]]], None]
"""Run a coroutine function after a delay (the host's task group): how held requests are released."""


@dataclass(eq=False)
class HostRequest:
    """The host wants the model to speak about `items` (item ids the host added)."""

    items: frozenset[str]
    readback: int = 0
    """How many plain client `response.create`s may still join it (one per call the client saw end)."""
    hold_until: float | None = None
    """While the read-back waits for the client's own request: until when (None: not yet held)."""
    joined: Event | None = None
    """The client request that joined it before it was sent: its `event_id` goes on the wire."""


@dataclass(eq=False)
class _Sent:
    """A `response.create` on the wire, kept until we know whether it was accepted."""

    event_id: str
    client_event: Event | None
    host: list[HostRequest]
    covered: list[HostRequest] = field(default_factory=list)
    """Host requests the next `response.created` satisfied, whoever caused that response."""

    @property
    def joined(self) -> bool:
        """Host requests sent with a client request's `event_id` (that request is `client_event`)."""
        return bool(self.host) and self.client_event is not None


def answered_already() -> list[Event]:
    """An empty response (created, then done with no output) answering a late read-back request."""
    response: Event = {
        "object": "realtime.response",
        "id": new_response_id(),
        "status": "in_progress",
        "status_details": None,
        "output": [],
        "conversation_id": "conv_default",
        "metadata": {"mcp_voice": "readback_already_given"},
        "usage": None,
    }
    done = {**response, "status": "completed"}
    return [
        {"type": "response.created", "event_id": new_event_id(), "response": response},
        {"type": "response.done", "event_id": new_event_id(), "response": done},
    ]


def _plain(event: Event) -> bool:
    """A `response.create` with no parameters: what a client sends to ask for a read-back."""
    return not set(event) - {"type", "event_id"}


def is_out_of_band(response: Event) -> bool:
    """A response outside the default conversation (`conversation: "none"` gives conversation_id null)."""
    return "conversation_id" in response and response["conversation_id"] is None


class ResponseSequencer:
    """Response bookkeeping for one session. `observe` every upstream event, then `drain`."""

    def __init__(
        self,
        send: Callable[[Event], Awaitable[None]],
        *,
        max_client_queue: int | None = None,
        readback_wait_s: float = 0.0,
        later: Later | None = None,
        reply: Callable[[Event], Awaitable[None]] | None = None,
    ) -> None:
        self._send = send
        self._reply = reply
        """To the client: the empty answer to a read-back request that came after the read-back."""
        self._spoken_readback: list[HostRequest] = []
        self._spoken_at = 0.0
        self._readback_wait_s = readback_wait_s if later is not None else 0.0
        self._later = later
        self.client_reads_back: bool | None = None if self._readback_wait_s > 0 else False
        """Learned per session: whether the client asks for the read-back of a call it saw end."""
        self._max_client_queue = max_client_queue
        """Client requests that may wait (None: no bound); a bounded queue keeps memory bounded."""
        self._pending: _Sent | None = None
        self._last: _Sent | None = None
        self._active: set[str] = set()
        """Responses the upstream announced and has not finished: normally one; more only if the
        upstream breaks the protocol, and then no `response.create` goes out until all are done."""
        self._blocked = False
        """An error told us a response is active whose `response.created` we have not seen."""
        self._oob: set[str] = set()
        self._client: deque[Event] = deque()
        self._host: list[HostRequest] = []
        self._watched: set[str] = set()
        self._acked: set[str] = set()
        self._running_readback: list[HostRequest] = []
        """Read-back requests the active response covers (a client request may still join them)."""
        self._client_turn = False
        """The client added input since its last request: a plain request then asks about that."""
        self.user_speaking = False
        self.vad_creates_responses = True
        """The GA default (server VAD with `create_response`); updated from `session.created/updated`."""
        self.awaiting_vad = False
        """A VAD commit happened: the server is about to start a response of its own."""

    # -- state ----------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """A response is requested or running: no `response.create` may be sent now."""
        return self._pending is not None or bool(self._active) or self._blocked or self.awaiting_vad

    @property
    def waiting(self) -> int:
        """Requests not yet sent (client and host)."""
        return len(self._client) + len(self._host)

    def is_out_of_band(self, response_id: str | None) -> bool:
        """Whether a running response is out-of-band (its items join no conversation)."""
        return response_id in self._oob

    # -- requests -------------------------------------------------------------------------------

    async def request_client(self, event: Event) -> bool:
        """A client `response.create`: out-of-band ones go at once, the rest join the queue.

        False (and nothing sent) when the queue is full: the caller answers with an error.
        """
        response = event.get("response")
        if isinstance(response, dict) and response.get("conversation") == "none":
            await self._send(event)
            return True
        if self._join_readback(event):
            logger.debug("client response.create %s joins the host's read-back", event.get("event_id"))
            await self.drain()
            return True
        if self._late_readback(event) and self._reply is not None:
            logger.debug(
                "client response.create %s asks for a read-back already spoken", event.get("event_id")
            )
            for answer in answered_already():
                await self._reply(answer)
            return True
        if self._max_client_queue is not None and len(self._client) >= self._max_client_queue:
            return False
        if not isinstance(event.get("event_id"), str):
            event["event_id"] = new_event_id()  # so an error can be matched to it
        self._client.append(event)
        await self.drain()
        return True

    def client_turn(self) -> None:
        """The client added input (a message, committed audio): its next request is a new turn."""
        self._client_turn = True

    def _join_readback(self, event: Event) -> bool:
        """A plain request while a read-back the client may have asked for is queued, sent or running."""
        new_turn, self._client_turn = self._client_turn, False
        if new_turn:
            self._spoken_readback = []
        if new_turn or not _plain(event):
            return False
        sent = self._pending.host if self._pending is not None else []
        request = self._take_readback((*self._host, *sent, *self._running_readback))
        if request is None:
            return False
        if request in self._host and request.joined is None:
            request.joined = event  # not sent yet: it goes now, as the client's request
        return True

    def _late_readback(self, event: Event) -> bool:
        """A plain request for a read-back that was already spoken (a slow client's first call).

        It gets an empty response (`answered_already`), so a client that waits for its request to
        be answered (the agents SDK's sequencer) is released and nothing is spoken twice.
        `_join_readback` has already ruled out a new turn.
        """
        if not _plain(event) or anyio.current_time() - self._spoken_at > LATE_READBACK_S:
            return False
        return self._take_readback(self._spoken_readback) is not None

    def _take_readback(self, requests: Iterable[HostRequest]) -> HostRequest | None:
        """The first read-back a client request may still count for; taking it shows the client asks."""
        for request in requests:
            if request.readback > 0:
                request.readback -= 1
                self.client_reads_back = True
                return request
        return None

    async def request_host(self, items: Iterable[str], *, readback: bool = False) -> None:
        """The host wants a response about `items` once the floor is free.

        `readback`: it reads back a host call the client saw end, so one plain client request may join it.
        """
        request = HostRequest(frozenset(items), readback=int(readback))
        self._watched.update(request.items - self._acked)
        self._host.append(request)
        await self.drain()

    async def drain(self) -> None:
        """Send the next request if nothing is active. Client requests first; host ones need the floor."""
        if self.busy:
            return
        if self._client:
            event = self._client.popleft()
            self._pending = _Sent(event["event_id"], event, [])
            await self._send(event)
        elif self._host and not self.user_speaking and not self._holding():
            requests, self._host = self._host, []
            event = response_create()
            joined = next((request.joined for request in requests if request.joined is not None), None)
            if joined is not None and isinstance(joined.get("event_id"), str):
                event["event_id"] = joined["event_id"]
            self._pending = _Sent(event["event_id"], joined, requests)
            logger.debug("host response.create for %d request(s)", len(requests))
            await self._send(event)

    def _holding(self) -> bool:
        """Whether a read-back still waits for the client's own request (see the module's docstring)."""
        if self.client_reads_back is False or self._later is None:
            return False
        waiting = [r for r in self._host if r.readback > 0 and r.joined is None]
        if not waiting:
            return False
        now = anyio.current_time()
        wait = KNOWN_READBACK_WAIT_S if self.client_reads_back else self._readback_wait_s
        held = False
        for request in waiting:
            if request.hold_until is None:
                request.hold_until = now + wait
                self._later(wait, self._hold_over)
            held = held or now < request.hold_until
        return held

    async def _hold_over(self) -> None:
        """A held read-back's wait ended: with no client request, the host asks, and learns."""
        now = anyio.current_time()
        expired = [
            r
            for r in self._host
            if r.readback > 0 and r.joined is None and r.hold_until is not None and r.hold_until <= now
        ]
        if expired:
            # Not asked: a client not known to ask does not (re-learned if it was thought to).
            self.client_reads_back = False if self.client_reads_back is None else None
        await self.drain()

    # -- upstream events ------------------------------------------------------------------------

    def observe(self, event: Event) -> bool:
        """Update the state from one upstream event; True if the client must not see it."""
        kind = event.get("type")
        if kind == "conversation.item.added":
            item_id = (event.get("item") or {}).get("id")
            if item_id in self._watched:
                self._watched.discard(item_id)
                self._acked.add(item_id)
        elif kind == "response.created":
            self._created(event.get("response") or {})
        elif kind == "response.done":
            self._done(event.get("response") or {})
        elif kind == "input_audio_buffer.speech_started":
            self.user_speaking = True
        elif kind == "input_audio_buffer.committed":
            self.awaiting_vad = self.user_speaking and self.vad_creates_responses
            self.user_speaking = False
        elif kind == "input_audio_buffer.cleared":
            self.user_speaking = False
        elif kind in ("session.created", "session.updated"):
            self._session(event.get("session") or {})
        elif kind == "error":
            return self._error(event.get("error") or {})
        return False

    def vad_wait_over(self) -> None:
        """The server started no response after the commit (e.g. nothing was said): stop waiting."""
        self.awaiting_vad = False

    def _session(self, session: Event) -> None:
        audio = session.get("audio")
        if not isinstance(audio, dict) or not isinstance(audio.get("input"), dict):
            return
        if "turn_detection" not in audio["input"]:
            return
        detection = audio["input"]["turn_detection"]
        self.vad_creates_responses = (
            isinstance(detection, dict) and detection.get("create_response", True) is not False
        )

    def _created(self, response: Event) -> None:
        response_id = response.get("id") or "?"
        if is_out_of_band(response):
            self._oob.add(response_id)
            return
        covered = [request for request in self._host if request.items and request.items <= self._acked]
        if covered:
            self._host = [request for request in self._host if request not in covered]
        if self._pending is not None:
            self._last, self._pending = self._pending, None
            self._last.covered = [request for request in self._last.host if request.items <= self._acked]
            covered += self._last.covered
        for request in covered:
            self._acked.difference_update(request.items)
        self._running_readback = [request for request in covered if request.readback > 0]
        self._active.add(response_id)
        self._blocked = False
        self.awaiting_vad = False

    def _done(self, response: Event) -> None:
        response_id = response.get("id") or "?"
        if response_id in self._oob:
            self._oob.discard(response_id)
            return
        if response_id in self._active:
            self._active.discard(response_id)
        else:  # a done we cannot match (no id): nothing can still be running
            self._active.clear()
        self._last = None
        self._blocked = False
        if self._running_readback and self._reply is not None:
            self._spoken_readback, self._spoken_at = self._running_readback, anyio.current_time()
        self._running_readback = []

    def _error(self, error: Event) -> bool:
        event_id = error.get("event_id")
        if event_id is None:
            return False
        if self._pending is not None and self._pending.event_id == event_id:
            sent, self._pending = self._pending, None
        elif self._last is not None and self._last.event_id == event_id:
            sent, self._last = self._last, None
        else:
            return False
        if error.get("code") != ALREADY_ACTIVE:
            logger.warning("response.create %s failed: %s", event_id, error.get("message"))
            for request in sent.host:  # given up: stop tracking their items
                self._watched.difference_update(request.items)
                self._acked.difference_update(request.items)
            return sent.client_event is None
        if sent.joined:  # the client's request rides on the host's: retried as the host's
            for request in sent.host:
                request.joined = None
            sent.client_event = None
        # Raced with a response we had not seen (server VAD): retry once it is done.
        if not self._active:
            self._blocked = True
        if sent.client_event is not None:
            self._client.appendleft(sent.client_event)
        retry = [request for request in sent.host if request not in sent.covered]
        self._host[:0] = retry
        logger.debug("response.create %s raced an active response; retrying after response.done", event_id)
        return True
