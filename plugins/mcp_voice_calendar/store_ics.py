"""An iCalendar (.ics) file as the calendar: atomic writes, re-read when another app edits it."""

from __future__ import annotations

import copy
import os
import threading
from datetime import datetime
from pathlib import Path

import icalendar

from mcp_voice import temp_beside

from .errors import StoreError, UnknownEventError
from .model import master
from .store import Edit

PRODID = "-//mcp-voice//calendar//EN"
NEW_FILE_MODE = 0o644


class IcsStore:
    """A Store over one .ics file that other calendar apps can open and edit too.

    The parsed calendar is cached and never mutated: a write builds a new one, saves it
    (temp file in the same folder, fsync, os.replace) and only then publishes it, so a failed
    write leaves both the file and the cache as they were.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._calendar: icalendar.Calendar | None = None
        self._stamp: tuple[int, int, int] | None = None

    def components(self, start: datetime, end: datetime) -> list[icalendar.Component]:
        with self._lock:
            calendar = self._load()
        return [c for c in calendar.subcomponents if c.name in ("VEVENT", "VTIMEZONE")]

    def add(self, event: icalendar.Event) -> None:
        with self._lock:
            calendar = self._load()
            uid = str(event["UID"])
            if any(str(c.get("UID")) == uid for c in calendar.walk("VEVENT")):
                raise StoreError(f"an event with uid {uid!r} already exists")
            self._save([*calendar.subcomponents, event], calendar)

    def change(self, uid: str, edit: Edit) -> icalendar.Event:
        with self._lock:
            calendar = self._load()
            found = self._master(calendar, uid)
            changed = copy.deepcopy(found)
            edit(changed)
            self._save([changed if c is found else c for c in calendar.subcomponents], calendar)
            return changed

    def remove(self, uid: str) -> icalendar.Event:
        with self._lock:
            calendar = self._load()
            found = self._master(calendar, uid)
            kept = [c for c in calendar.subcomponents if not _is_event(c, uid)]
            self._save(kept, calendar)
            return found

    @staticmethod
    def _master(calendar: icalendar.Calendar, uid: str) -> icalendar.Event:
        events = [c for c in calendar.walk("VEVENT") if isinstance(c, icalendar.Event)]  # all of them
        found = master([c for c in events if str(c.get("UID")) == uid])
        if found is None:
            raise UnknownEventError(uid)
        return found

    def _load(self) -> icalendar.Calendar:
        """The cached calendar, re-parsed when the file changed on disk."""
        try:
            info = self.path.stat()
        except FileNotFoundError:
            self._calendar, self._stamp = _empty(), None
            return self._calendar
        except OSError as exc:
            raise StoreError(f"cannot read the calendar file {self.path}: {exc.strerror}") from None
        stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
        if self._calendar is None or stamp != self._stamp:
            try:
                data = self.path.read_bytes()
                self._calendar = icalendar.Calendar.from_ical(data) if data.strip() else _empty()
            except OSError as exc:
                raise StoreError(f"cannot read the calendar file {self.path}: {exc.strerror}") from None
            except ValueError as exc:
                raise StoreError(f"the calendar file {self.path} is not valid iCalendar: {exc}") from None
            self._stamp = stamp
        return self._calendar

    def _save(self, subcomponents: list[icalendar.Component], old: icalendar.Calendar) -> None:
        calendar = icalendar.Calendar()
        calendar.update(old)
        calendar["PRODID"] = PRODID
        calendar["VERSION"] = "2.0"
        calendar.subcomponents = list(subcomponents)
        calendar.add_missing_timezones()
        try:
            _write_atomic(self.path, calendar.to_ical())
            info = self.path.stat()
        except OSError as exc:
            raise StoreError(f"could not save the calendar file {self.path}: {exc}") from None
        self._calendar, self._stamp = calendar, (info.st_mtime_ns, info.st_size, info.st_ino)


def _is_event(component: icalendar.Component, uid: str) -> bool:
    return component.name == "VEVENT" and str(component.get("UID")) == uid


def _empty() -> icalendar.Calendar:
    calendar = icalendar.Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    return calendar


def _write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so readers see the old file or the new one, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = NEW_FILE_MODE
    with temp_beside(path, data, mode) as tmp:
        os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
