"""Recurrence rules: validating what the model sends and expanding series into occurrences."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, tzinfo

import icalendar
import recurring_ical_events
from dateutil.rrule import rrulestr

from .errors import CalendarError
from .times import UTC, When


def parse_rrule(text: str, dtstart: When) -> icalendar.vRecur:
    """An RRULE for an event starting at `dtstart`, or a CalendarError saying what is wrong.

    A voice model writes `UNTIL=20250630` for a timed event; RFC 5545 wants UTC there, so a
    date or naive UNTIL is read as the end of that day in the event's zone.
    """
    value = text.strip().removeprefix("RRULE:").strip()
    try:
        rule = icalendar.vRecur.from_ical(value)
        if "FREQ" not in rule:
            raise ValueError("FREQ is missing")
        until = rule.get("UNTIL")
        if until:
            rule["UNTIL"] = [_until(until[0], dtstart)]
        anchor = dtstart if isinstance(dtstart, datetime) else datetime.combine(dtstart, time(0))
        rrulestr(rule.to_ical().decode(), dtstart=anchor)
    except (ValueError, TypeError, KeyError) as exc:
        raise CalendarError(
            f"bad recurrence rule {text!r} ({exc}); use RFC 5545 like 'FREQ=WEEKLY;BYDAY=MO;COUNT=10'"
        ) from None
    return rule


def _until(until: When, dtstart: When) -> When:
    if not isinstance(dtstart, datetime):
        return until.date() if isinstance(until, datetime) else until
    zone = dtstart.tzinfo
    if not isinstance(until, datetime):
        until = datetime.combine(until, time(23, 59, 59))
    if until.tzinfo is None:
        until = until.replace(tzinfo=zone)
    return until.astimezone(UTC)


def rrule_text(event: icalendar.Event) -> str | None:
    """The event's RRULE as the model would write it, or None."""
    rule = event.get("RRULE")
    if rule is None:
        return None
    if isinstance(rule, list):
        rule = rule[0]
    return rule.to_ical().decode()


def is_recurring(event: icalendar.Event) -> bool:
    return "RRULE" in event or "RDATE" in event


def occurrences(
    components: Iterable[icalendar.Component], start: datetime, end: datetime, tz: tzinfo
) -> list[icalendar.Event]:
    """Every occurrence of every event overlapping [start, end), sorted by start.

    Series are expanded with RRULE, RDATE, EXDATE and RECURRENCE-ID overrides applied.
    """
    calendar = icalendar.Calendar()
    for component in components:
        calendar.add_component(component)
    try:
        found = recurring_ical_events.of(calendar).between(start, end)
    except Exception as exc:  # the library raises many types for broken data from other apps
        raise CalendarError(f"cannot expand the calendar's events: {exc}") from None

    def key(event: icalendar.Event) -> datetime:
        value = event.decoded("DTSTART")
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=tz)
        return datetime.combine(value, time(0), tzinfo=tz)

    return sorted(found, key=key)


def is_all_day(event: icalendar.Event) -> bool:
    value = event.decoded("DTSTART")
    return isinstance(value, date) and not isinstance(value, datetime)
