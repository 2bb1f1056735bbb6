"""`SessionSlots`: the one count of running sessions in a serve process, whatever carries them.

`[serve] max_sessions` bounds upstream sessions (and so the account's spend and the tools' load);
a relay socket, a Twilio media stream, an OpenAI SIP call and a WebRTC call each hold one. Every
transport takes a slot here before opening its upstream and gives it back when the session ends,
so the limit holds across them, and /healthz (or a readiness check) reads one number.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class SessionSlots:
    """Sessions running now, at most `limit` (None: no limit)."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self.active = 0

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
