"""The event as the tools show it, and building/editing VEVENTs from what the model sends."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

import icalendar
from pydantic import BaseModel, Field

from .errors import CalendarError
from .recurrence import is_recurring, parse_rrule, rrule_text
from .times import UTC, When, in_zone, iso, parse_when, zone_key

DEFAULT_DURATION = timedelta(hours=1)


class EventOut(BaseModel):
    """One event (or one occurrence of a series) as the voice model reads it."""

    uid: str
    summary: str
    start: str = Field(description="ISO 8601; a date for all-day events")
    end: str = Field(description="ISO 8601; for all-day events the last day (inclusive)")
    all_day: bool
    recurring: bool = Field(description="true when this is one occurrence of a repeating event")
    rrule: str | None = None
    timezone: str | None = Field(default=None, description="the zone the event is kept in")
    location: str | None = None
    description: str | None = None


def event_out(
    event: icalendar.Event, tz: tzinfo, *, series: icalendar.Event | None = None, utc_name: str = "UTC"
) -> EventOut:
    """Show `event` with its times in `tz` (all-day ends as the inclusive last day).

    `series` is the master an expanded occurrence came from: it knows the RRULE. `utc_name` is
    how a UTC zone is named (the configured zone's key when that is UTC), so every tool agrees.
    """
    source = event if series is None else series
    start, end = span(event)
    all_day = not isinstance(start, datetime)
    if all_day:
        end = max(start, end - timedelta(days=1))
    raw_start = event.decoded("DTSTART")
    zone_name = zone_key(getattr(raw_start, "tzinfo", None), utc_name)
    return EventOut(
        uid=str(event.get("UID", "")),
        summary=str(event.get("SUMMARY", "")),
        start=iso(in_zone(start, tz)),
        end=iso(in_zone(end, tz)),
        all_day=all_day,
        recurring=is_recurring(source),
        rrule=rrule_text(source),
        timezone=zone_name,
        location=_text(event, "LOCATION"),
        description=_text(event, "DESCRIPTION"),
    )


def span(event: icalendar.Event) -> tuple[When, When]:
    """DTSTART and the effective end (DTEND, DTSTART+DURATION, or the RFC 5545 default)."""
    start = event.decoded("DTSTART")
    if "DTEND" in event:
        return start, event.decoded("DTEND")
    if "DURATION" in event:
        return start, start + event.decoded("DURATION")
    if isinstance(start, datetime):
        return start, start
    return start, start + timedelta(days=1)


def _text(event: icalendar.Event, name: str) -> str | None:
    value = event.get(name)
    return str(value) if value not in (None, "") else None


@dataclass(frozen=True)
class Fields:
    """What create_event/update_event received; None means "not given"."""

    summary: str | None = None
    start: str | None = None
    end: str | None = None
    duration_minutes: int | None = None
    location: str | None = None
    description: str | None = None
    rrule: str | None = None
    timezone: tzinfo | None = None


def new_event(fields: Fields, default_tz: tzinfo) -> icalendar.Event:
    """A complete VEVENT (UID, DTSTAMP, times) from create_event's arguments."""
    if not fields.summary or not fields.summary.strip():
        raise CalendarError("summary: give the event a title")
    if fields.start is None:
        raise CalendarError("start: say when the event starts")
    event = icalendar.Event()
    event.add("UID", f"{uuid.uuid4()}@mcp-voice")
    event.add("SUMMARY", fields.summary.strip())
    _stamp(event, created=True)
    tz = fields.timezone or default_tz
    start = parse_when(fields.start, tz, field="start")
    end = parse_when(fields.end, tz, field="end") if fields.end else None
    _set_times(event, _anchor(start, tz), _anchor(end, tz) if end else None, fields.duration_minutes, None)
    _set_details(event, fields)
    return event


def edit_event(event: icalendar.Event, fields: Fields, default_tz: tzinfo) -> None:
    """Apply update_event's arguments to a series master in place (validated first)."""
    if fields.summary is not None:
        if not fields.summary.strip():
            raise CalendarError("summary: an event needs a title")
        event["SUMMARY"] = icalendar.vText(fields.summary.strip())
    old_start, old_end = span(event)
    tz = fields.timezone or _zone_of(old_start) or default_tz
    if fields.timezone is not None and fields.start is None and fields.end is None:
        raise CalendarError("timezone: it applies to a new start or end; give one of them too")
    if fields.start is not None or fields.end is not None or fields.duration_minutes is not None:
        start = _anchor(parse_when(fields.start, tz, field="start"), tz) if fields.start else old_start
        end = _anchor(parse_when(fields.end, tz, field="end"), tz) if fields.end else None
        keep = None
        if end is None and fields.duration_minutes is None and type(start) is type(old_start):
            keep = _length(old_start, old_end)
        _set_times(event, start, end, fields.duration_minutes, keep)
    if fields.start is not None and fields.rrule is None and "RRULE" in event:
        event["RRULE"] = parse_rrule(rrule_text(event) or "", event.decoded("DTSTART"))
    _set_details(event, fields)
    event["SEQUENCE"] = int(event.get("SEQUENCE", 0)) + 1
    _stamp(event, created=False)


def _length(start: When, end: When) -> timedelta | None:
    """How long an existing event lasts; None when its DTSTART and DTEND are of different kinds.

    RFC 5545 wants both dates or both times, but other apps' files do not always comply; such an
    event moved without a new end takes the default length instead of failing on the subtraction.
    """
    if isinstance(start, datetime) and isinstance(end, datetime):
        return end - start if (start.tzinfo is None) == (end.tzinfo is None) else None
    if not isinstance(start, datetime) and not isinstance(end, datetime):
        return end - start
    return None


def _anchor(value: When, tz: tzinfo) -> When:
    """Keep times in the event's zone so a series follows that zone's DST rules."""
    return value.astimezone(tz) if isinstance(value, datetime) else value


def _zone_of(value: When) -> tzinfo | None:
    return value.tzinfo if isinstance(value, datetime) else None


def _set_times(
    event: icalendar.Event, start: When, end: When | None, minutes: int | None, keep: timedelta | None
) -> None:
    all_day = not isinstance(start, datetime)
    if end is not None and minutes is not None:
        raise CalendarError("give either end or duration_minutes, not both")
    if minutes is not None:
        if all_day:
            raise CalendarError("duration_minutes: all-day events take an end date instead")
        if minutes <= 0:
            raise CalendarError("duration_minutes must be positive")
        end = start + timedelta(minutes=minutes)
    elif end is None:
        default = timedelta(days=1) if all_day else DEFAULT_DURATION
        end = start + (keep if keep is not None else default)
    elif all_day:
        if isinstance(end, datetime):
            raise CalendarError("end: an all-day event (a date start) needs a date end")
        end = end + timedelta(days=1)  # the model says the last day; iCalendar stores the day after
    elif not isinstance(end, datetime):
        raise CalendarError("end: a timed event needs a time, not just a date")
    if end <= start:
        raise CalendarError(f"end ({iso(end)}) must be after start ({iso(start)})")
    for name in ("DTSTART", "DTEND", "DURATION"):
        event.pop(name, None)
    event.add("DTSTART", start)
    event.add("DTEND", end)


def _set_details(event: icalendar.Event, fields: Fields) -> None:
    for name, value in (("LOCATION", fields.location), ("DESCRIPTION", fields.description)):
        if value is None:
            continue
        event.pop(name, None)
        if value.strip():
            event.add(name, value.strip())
    if fields.rrule is not None:
        event.pop("RRULE", None)
        if fields.rrule.strip():
            event.add("RRULE", parse_rrule(fields.rrule, event.decoded("DTSTART")))


def _stamp(event: icalendar.Event, *, created: bool) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    for name in ("DTSTAMP", "LAST-MODIFIED"):
        event.pop(name, None)
        event.add(name, now)
    if created:
        event.add("CREATED", now)


def master(components: list[icalendar.Event]) -> icalendar.Event | None:
    """The series master (no RECURRENCE-ID) among one uid's components."""
    for component in components:
        if "RECURRENCE-ID" not in component:
            return component
    return None
