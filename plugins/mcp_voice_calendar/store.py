"""The Store protocol: what the tools need from a calendar, whatever keeps it.

Methods are synchronous (file I/O, caldav's HTTP); the server runs them in worker threads.
A store serializes its own writes, so concurrent tool calls never lose an update.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

import icalendar

Edit = Callable[[icalendar.Event], None]
"""Changes a series master in place; raising aborts the change and nothing is written."""


class Store(Protocol):
    def components(self, start: datetime, end: datetime) -> list[icalendar.Component]:
        """VEVENTs (masters and RECURRENCE-ID overrides) that may occur in [start, end),
        plus the VTIMEZONEs they need. Over-inclusion is fine: the caller expands and filters."""
        ...

    def add(self, event: icalendar.Event) -> None:
        """Store a new event (its UID must be new)."""
        ...

    def change(self, uid: str, edit: Edit) -> icalendar.Event:
        """Apply `edit` to the series master of `uid` atomically; return the stored master.
        Raises UnknownEventError."""
        ...

    def remove(self, uid: str) -> icalendar.Event:
        """Delete every component of `uid`; return the master that was removed.
        Raises UnknownEventError."""
        ...
