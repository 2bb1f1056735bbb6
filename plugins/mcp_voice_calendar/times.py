"""Parsing and printing times: every naive time is read in a named IANA zone (zoneinfo)."""

from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import CalendarError

UTC = ZoneInfo("UTC")

UTC_NAMES = frozenset({"UTC", "Etc/UTC", "UCT", "Etc/UCT", "Universal", "Etc/Universal", "Zulu", "Etc/Zulu"})
"""Names of UTC itself; a UTC time is saved as "...Z" and read back as plain "UTC", whichever was used."""

When = date | datetime
"""A `date` (an all-day value) or an aware `datetime`."""


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`, or a CalendarError the user can act on."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise CalendarError(
            f"unknown time zone {name!r}: use an IANA name such as 'Europe/Berlin' or 'UTC'"
        ) from None


def zone_key(tz: tzinfo | None, utc_name: str = "UTC") -> str | None:
    """The IANA name an event's zone is reported by; every spelling of UTC becomes `utc_name`.

    Without this an event created in "Etc/UTC" would read back from the file as "UTC".
    """
    if tz is None:
        return None
    key = getattr(tz, "key", None)
    if key in UTC_NAMES or (key is None and tz.tzname(None) == "UTC"):
        return utc_name
    return key


def local_zone_name() -> str:
    """The machine's IANA zone ($TZ, /etc/localtime, /etc/timezone), else "UTC"."""
    candidates = [os.environ.get("TZ", "").removeprefix(":")]
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        target = str(localtime.resolve())
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    try:
        candidates.append(Path("/etc/timezone").read_text().strip())
    except OSError:
        pass
    for name in candidates:
        if name:
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                continue
            return name
    return "UTC"


def parse_when(text: str, tz: tzinfo, *, field: str) -> When:
    """An ISO 8601 date or datetime; a naive datetime is taken in `tz`."""
    value = text.strip()
    try:
        if len(value) <= 10 and "T" not in value and ":" not in value:
            return date.fromisoformat(value)
        parsed = datetime.fromisoformat(value.replace(" ", "T", 1))
    except ValueError:
        raise CalendarError(
            f"{field}: cannot read {text!r} as a date or time; use ISO 8601 like "
            "'2025-06-02' or '2025-06-02T14:30'"
        ) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=tz)
    return parsed


def start_of(value: When, tz: tzinfo) -> datetime:
    """The instant a value begins: a date is midnight in `tz`."""
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time(0), tzinfo=tz)


def end_of(value: When, tz: tzinfo) -> datetime:
    """The instant a window end means: a date includes that whole day."""
    if isinstance(value, datetime):
        return value
    return datetime.combine(value + timedelta(days=1), time(0), tzinfo=tz)


def in_zone(value: When, tz: tzinfo) -> When:
    """`value` shown in `tz`: floating (naive) times are read as `tz`, dates stay dates."""
    if not isinstance(value, datetime):
        return value
    if value.tzinfo is None:
        return value.replace(tzinfo=tz)
    return value.astimezone(tz)


def iso(value: When) -> str:
    """ISO 8601 without microseconds: "2025-06-02" or "2025-06-02T09:00:00+02:00"."""
    if isinstance(value, datetime):
        return value.replace(microsecond=0).isoformat()
    return value.isoformat()


def instant(value: When, tz: tzinfo) -> datetime:
    """A UTC datetime to compare and subtract safely (same-tzinfo arithmetic ignores DST)."""
    return start_of(in_zone(value, tz), tz).astimezone(UTC)
