"""A calendar on a CalDAV server (Nextcloud, Radicale, Fastmail, iCloud...) through `caldav`.

`caldav` is synchronous; the server calls these methods in worker threads. Events are fetched
unexpanded and expanded locally, so both backends share one recurrence implementation.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import icalendar
from caldav.davclient import DAVClient  # `caldav.DAVClient` is a lazy attribute typed `object`
from caldav.lib import error as dav_error

from .errors import StoreError, UnknownEventError
from .model import master
from .store import Edit
from .store_ics import PRODID

SEARCH_MARGIN = timedelta(days=1)
"""Extra time asked for on each side of a window; the local expansion cuts it back."""

DAV_ERRORS = (dav_error.DAVError, OSError, ValueError)
"""What caldav and its HTTP layer raise for an unreachable or unhappy server."""


class CalDavStore:
    """A Store over one CalDAV calendar collection (its URL, e.g. .../alice/work/)."""

    def __init__(
        self, url: str, *, username: str | None = None, password: str | None = None, timeout_s: int = 30
    ) -> None:
        self.url = url
        self._client = DAVClient(url=url, username=username, password=password, timeout=timeout_s)
        self._calendar = self._client.calendar(url=url)
        self._lock = threading.Lock()
        """Serializes read-modify-write cycles from this process."""

    def components(self, start: datetime, end: datetime) -> list[icalendar.Component]:
        # Servers evaluate time ranges with their own reading of VTIMEZONEs (Radicale's can be
        # hours off) and compare all-day/floating times as UTC: ask wider, cut exactly locally.
        start, end = start - SEARCH_MARGIN, end + SEARCH_MARGIN
        found = self._call(
            self._calendar.search, event=True, start=start, end=end, expand=False, post_filter=False
        )
        return [
            c
            for obj in found
            for c in obj.icalendar_instance.subcomponents
            if c.name in ("VEVENT", "VTIMEZONE")
        ]

    def add(self, event: icalendar.Event) -> None:
        calendar = icalendar.Calendar()
        calendar.add("PRODID", PRODID)
        calendar.add("VERSION", "2.0")
        calendar.add_component(event)
        calendar.add_missing_timezones()
        with self._lock:
            self._call(self._calendar.add_event, calendar.to_ical().decode(), no_overwrite=True)

    def change(self, uid: str, edit: Edit) -> icalendar.Event:
        with self._lock:
            resource = self._resource(uid)
            calendar = resource.icalendar_instance
            found = master(list(calendar.walk("VEVENT")))
            if found is None:
                raise UnknownEventError(uid)
            edit(found)
            calendar.add_missing_timezones()
            resource.icalendar_instance = calendar
            self._call(resource.save, no_create=True, increase_seqno=False)
            return found

    def remove(self, uid: str) -> icalendar.Event:
        with self._lock:
            resource = self._resource(uid)
            found = master(list(resource.icalendar_instance.walk("VEVENT")))
            if found is None:
                raise UnknownEventError(uid)
            self._call(resource.delete)
            return found

    def _resource(self, uid: str) -> Any:
        return self._call(self._calendar.get_event_by_uid, uid, missing=UnknownEventError(uid))

    def _call(self, fn: Any, *args: Any, missing: Exception | None = None, **kwargs: Any) -> Any:
        """Run one caldav call, turning its errors into messages the user can act on."""
        try:
            return fn(*args, **kwargs)
        except dav_error.NotFoundError:
            raise missing or StoreError(f"no CalDAV calendar at {self.url}") from None
        except dav_error.AuthorizationError:
            raise StoreError(f"the CalDAV server at {self.url} refused the credentials") from None
        except DAV_ERRORS as exc:
            if "412" in str(exc):  # If-Match failed: another client saved since we read it
                raise StoreError("the event was changed elsewhere meanwhile; read it and retry") from None
            raise StoreError(f"the CalDAV server at {self.url} failed: {exc}") from None
