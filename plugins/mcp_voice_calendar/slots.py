"""Free time: work hours on work days minus busy intervals. Pure, so it is easy to test."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, time, timedelta, tzinfo

from .times import UTC

Interval = tuple[datetime, datetime]


def free_slots(
    busy: Iterable[Interval],
    window: Interval,
    *,
    tz: tzinfo,
    day_start: time,
    day_end: time,
    work_days: Sequence[int],
    minimum: timedelta,
) -> list[Interval]:
    """Gaps of at least `minimum` inside work hours (in `tz`) within `window`, in time order.

    All arithmetic is done in UTC: Python compares and subtracts datetimes that share a
    tzinfo by wall-clock time, which is wrong across a DST change.
    """
    start, end = (w.astimezone(UTC) for w in window)
    blocked = _merge(sorted((b.astimezone(UTC), e.astimezone(UTC)) for b, e in busy))
    slots: list[Interval] = []
    day = start.astimezone(tz).date()
    while day <= end.astimezone(tz).date():
        if day.isoweekday() in work_days:
            open_ = max(start, datetime.combine(day, day_start, tzinfo=tz).astimezone(UTC))
            close = min(end, datetime.combine(day, day_end, tzinfo=tz).astimezone(UTC))
            slots.extend(_gaps(open_, close, blocked, minimum))
        day += timedelta(days=1)
    return [(a.astimezone(tz), b.astimezone(tz)) for a, b in slots]


def _merge(intervals: list[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for begin, finish in intervals:
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], finish))
        else:
            merged.append((begin, finish))
    return merged


def _gaps(open_: datetime, close: datetime, blocked: list[Interval], minimum: timedelta) -> list[Interval]:
    gaps: list[Interval] = []
    cursor = open_
    for begin, finish in blocked:
        if finish <= cursor:
            continue
        if begin >= close:
            break
        if begin - cursor >= minimum:
            gaps.append((cursor, begin))
        cursor = max(cursor, finish)
    if close - cursor >= minimum:
        gaps.append((cursor, close))
    return gaps
