"""What each tool does, synchronously, over any Store: the server runs these in worker threads."""

from __future__ import annotations

from datetime import datetime, timedelta

import icalendar
from pydantic import BaseModel

from .errors import CalendarError
from .model import EventOut, Fields, edit_event, event_out, master, new_event, span
from .recurrence import is_all_day, occurrences
from .settings import CalendarSettings
from .slots import free_slots
from .store import Store
from .times import UTC, UTC_NAMES, end_of, instant, iso, parse_when, start_of, zone

MAX_WINDOW = timedelta(days=400)
"""Longest window list/find accept: enough for "this year", bounded for daily series."""


class Slot(BaseModel):
    start: str
    end: str
    minutes: int


class Updated(BaseModel):
    event: EventOut
    previous: EventOut
    """What it was before: enough to undo the change with another update_event."""


class Deleted(BaseModel):
    deleted: EventOut


class CalendarService:
    """The calendar tools over `store`, reading naive times in the configured zone."""

    def __init__(self, store: Store, settings: CalendarSettings) -> None:
        self.store = store
        self.settings = settings
        self.tz = zone(settings.timezone)
        self.utc_name = settings.timezone if settings.timezone in UTC_NAMES else "UTC"

    def list_events(self, start: str, end: str) -> list[EventOut]:
        window = self._window(start, end)
        components = self.store.components(*window)
        series = _masters(components)
        return [
            event_out(
                occurrence,
                self.tz,
                series=series.get(str(occurrence.get("UID"))),
                utc_name=self.utc_name,
            )
            for occurrence in occurrences(components, *window, self.tz)
        ]

    def create_event(self, fields: Fields) -> EventOut:
        event = new_event(fields, self.tz)
        self.store.add(event)
        return event_out(event, fields.timezone or self.tz, utc_name=self.utc_name)

    def update_event(self, uid: str, fields: Fields) -> Updated:
        before: list[EventOut] = []

        def edit(event: icalendar.Event) -> None:
            before.append(event_out(event, fields.timezone or self.tz, utc_name=self.utc_name))
            edit_event(event, fields, self.tz)

        changed = self.store.change(uid, edit)
        return Updated(
            event=event_out(changed, fields.timezone or self.tz, utc_name=self.utc_name), previous=before[0]
        )

    def delete_event(self, uid: str) -> Deleted:
        return Deleted(deleted=event_out(self.store.remove(uid), self.tz, utc_name=self.utc_name))

    def find_free_slots(self, duration_minutes: int, window_start: str, window_end: str) -> list[Slot]:
        if duration_minutes <= 0:
            raise CalendarError("duration_minutes must be positive")
        window = self._window(window_start, window_end)
        components = self.store.components(*window)
        busy = []
        for occurrence in occurrences(components, *window, self.tz):
            if str(occurrence.get("TRANSP", "")).upper() == "TRANSPARENT":
                continue
            if str(occurrence.get("STATUS", "")).upper() == "CANCELLED":
                continue
            begin, finish = span(occurrence)
            if is_all_day(occurrence):
                busy.append((start_of(begin, self.tz), start_of(finish, self.tz)))
            else:
                busy.append((instant(begin, self.tz), instant(finish, self.tz)))
        s = self.settings
        found = free_slots(
            busy,
            window,
            tz=self.tz,
            day_start=s.day_start,
            day_end=s.day_end,
            work_days=s.work_days,
            minimum=timedelta(minutes=duration_minutes),
        )
        return [Slot(start=iso(a), end=iso(b), minutes=_minutes(a, b)) for a, b in found]

    def _window(self, start: str, end: str) -> tuple[datetime, datetime]:
        begin = start_of(parse_when(start, self.tz, field="start"), self.tz)
        finish = end_of(parse_when(end, self.tz, field="end"), self.tz)
        if finish.astimezone(UTC) <= begin.astimezone(UTC):
            raise CalendarError(f"end ({iso(finish)}) must be after start ({iso(begin)})")
        if finish.astimezone(UTC) - begin.astimezone(UTC) > MAX_WINDOW:
            raise CalendarError(f"the window is too long: at most {MAX_WINDOW.days} days")
        return begin, finish


def _masters(components: list[icalendar.Component]) -> dict[str, icalendar.Event]:
    by_uid: dict[str, list[icalendar.Event]] = {}
    for component in components:
        if isinstance(component, icalendar.Event):  # what icalendar makes of every VEVENT
            by_uid.setdefault(str(component.get("UID")), []).append(component)
    return {uid: found for uid, parts in by_uid.items() if (found := master(parts)) is not None}


def _minutes(begin: datetime, finish: datetime) -> int:
    return int((finish.astimezone(UTC) - begin.astimezone(UTC)).total_seconds() // 60)
