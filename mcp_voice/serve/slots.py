"""`SessionSlots`: the one count of running sessions in a serve process, whatever carries them.

`[serve] max_sessions` bounds upstream sessions (and so the account's spend and the tools' load);
a relay socket, a Twilio media stream, an OpenAI SIP call and a WebRTC call each hold one. Every
transport takes a slot here before opening its upstream and gives it back when the session ends,
so the limit holds across them, and /healthz (or a readiness check) reads one number.

The sessions themselves are kept here too (`running`), so a shutdown or the end of a drain closes
every transport's with 1001 and its reason, not only the relay's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import anyio

GOING_AWAY = 1001
SHUTDOWN_WAIT_S = 5.0
"""How long `end_all` waits for the sessions to close their sockets."""


class LiveSession(Protocol):
    """What ending a session needs (a `SessionHost`)."""

    closed: anyio.Event

    def end(self, code: int, reason: str) -> None: ...


class SessionSlots:
    """Sessions running now, at most `limit` (None: no limit)."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self.active = 0
        self.live: set[LiveSession] = set()
        """The sessions running now, whatever their transport (for `end_all`)."""

    @property
    def full(self) -> bool:
        return self.limit is not None and self.active >= self.limit

    def take(self) -> bool:
        """One slot for a session that is about to start; False when all are taken."""
        if self.full:
            return False
        self.active += 1
        return True

    def release(self) -> None:
        self.active = max(0, self.active - 1)

    @contextmanager
    def held(self) -> Iterator[None]:
        """Give back a slot already taken when the block ends (however it ends)."""
        try:
            yield
        finally:
            self.release()

    def refusal(self) -> str:
        return f"this server holds {self.limit} sessions at most; try again later"

    @contextmanager
    def running(self, session: LiveSession) -> Iterator[None]:
        """Keep `session` among the live ones while the block runs."""
        self.live.add(session)
        try:
            yield
        finally:
            self.live.discard(session)

    async def end_all(self, reason: str, code: int = GOING_AWAY) -> None:
        """End every live session with `code` and `reason`, waiting a little for them to close."""
        sessions = list(self.live)
        for session in sessions:
            session.end(code, reason)
        with anyio.move_on_after(SHUTDOWN_WAIT_S):
            for session in sessions:
                await session.closed.wait()
