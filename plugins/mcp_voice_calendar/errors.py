"""Errors the tools turn into messages the voice model can read out."""

from __future__ import annotations


class CalendarError(ValueError):
    """Bad input or an unusable calendar: the message is meant for the user."""


class UnknownEventError(CalendarError):
    """No event has the given uid."""

    def __init__(self, uid: str) -> None:
        super().__init__(f"no event with uid {uid!r}")
        self.uid = uid


class StoreError(CalendarError):
    """The calendar file or server could not be read or written."""
