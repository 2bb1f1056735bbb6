"""The calendar tools through a real MCP session, over both backends (an .ics file and Radicale)."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import icalendar
import pytest
from mcp import Client

from mcp_voice_calendar import CalDavStore, CalendarSettings, IcsStore, Store, build_server
from mcp_voice_calendar.model import DEFAULT_DURATION, Fields, edit_event
from tests.plugins.calendar_calls import call, error

pytestmark = pytest.mark.anyio

NY = ZoneInfo("America/New_York")


@pytest.fixture(params=["ics", "caldav"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "ics":
        return IcsStore(tmp_path / "calendar.ics")
    target = request.getfixturevalue("caldav_calendar")
    return CalDavStore(target.url, username=target.username, password=target.password)


@asynccontextmanager
async def session(store: Store, **settings: Any) -> AsyncIterator[Client]:
    settings.setdefault("timezone", "Europe/Berlin")
    async with Client(build_server(store, CalendarSettings(**settings))) as client:
        yield client


def weekly_with_exdate() -> icalendar.Event:
    """A series as another app writes it: Mondays 10:00 Berlin, 6 times, 2025-06-16 skipped."""
    berlin = ZoneInfo("Europe/Berlin")
    event = icalendar.Event()
    event.add("UID", "weekly-1@example.org")
    event.add("DTSTAMP", datetime(2025, 1, 1, tzinfo=ZoneInfo("UTC")))
    event.add("SUMMARY", "Team sync")
    event.add("DTSTART", datetime(2025, 6, 2, 10, 0, tzinfo=berlin))
    event.add("DTEND", datetime(2025, 6, 2, 11, 0, tzinfo=berlin))
    event.add("RRULE", icalendar.vRecur.from_ical("FREQ=WEEKLY;COUNT=6"))
    event.add("EXDATE", datetime(2025, 6, 16, 10, 0, tzinfo=berlin))
    return event


async def test_created_event_is_listed_with_its_fields(store: Store) -> None:
    async with session(store) as client:
        created = await call(
            client,
            "create_event",
            summary="Dentist",
            start="2025-06-03T14:30",
            duration_minutes=45,
            location="Main St 5",
            description="bring card",
        )
        listed = await call(client, "list_events", start="2025-06-03", end="2025-06-03")
    assert created["uid"]
    assert listed == [created]
    assert created["start"] == "2025-06-03T14:30:00+02:00"
    assert created["end"] == "2025-06-03T15:15:00+02:00"
    assert (created["location"], created["description"]) == ("Main St 5", "bring card")
    assert created["recurring"] is False and created["all_day"] is False


async def test_list_window_excludes_events_outside_it(store: Store) -> None:
    async with session(store) as client:
        await call(client, "create_event", summary="Early", start="2025-06-03T08:00")
        await call(client, "create_event", summary="Late", start="2025-06-03T18:00")
        morning = await call(client, "list_events", start="2025-06-03T07:00", end="2025-06-03T12:00")
        next_day = await call(client, "list_events", start="2025-06-04", end="2025-06-05")
    assert [e["summary"] for e in morning] == ["Early"]
    assert next_day == []


async def test_all_day_event_uses_inclusive_last_day(store: Store) -> None:
    async with session(store) as client:
        created = await call(client, "create_event", summary="Vacation", start="2025-07-01", end="2025-07-03")
        middle = await call(client, "list_events", start="2025-07-02", end="2025-07-02")
        after = await call(client, "list_events", start="2025-07-04", end="2025-07-05")
        single = await call(client, "create_event", summary="Holiday", start="2025-08-15")
    assert created["all_day"] is True
    assert (created["start"], created["end"]) == ("2025-07-01", "2025-07-03")
    assert [e["summary"] for e in middle] == ["Vacation"]
    assert middle[0]["end"] == "2025-07-03"
    assert after == []
    assert (single["start"], single["end"]) == ("2025-08-15", "2025-08-15")


async def test_weekly_series_with_exdate_expands_within_window(store: Store) -> None:
    await anyio.to_thread.run_sync(store.add, weekly_with_exdate())
    async with session(store) as client:
        listed = await call(client, "list_events", start="2025-06-01", end="2025-06-30")
    assert [e["start"] for e in listed] == [
        "2025-06-02T10:00:00+02:00",
        "2025-06-09T10:00:00+02:00",
        "2025-06-23T10:00:00+02:00",
        "2025-06-30T10:00:00+02:00",
    ]  # 06-16 is excluded; the 6th occurrence (07-07) is outside the window
    assert all(e["recurring"] and e["uid"] == "weekly-1@example.org" for e in listed)
    assert listed[0]["rrule"] == "FREQ=WEEKLY;COUNT=6"


async def test_created_rrule_repeats_until_count(store: Store) -> None:
    async with session(store) as client:
        await call(
            client, "create_event", summary="Gym", start="2025-06-02T18:00", rrule="FREQ=DAILY;COUNT=3"
        )
        listed = await call(client, "list_events", start="2025-06-01", end="2025-06-10")
    assert [e["start"][:10] for e in listed] == ["2025-06-02", "2025-06-03", "2025-06-04"]


async def test_event_created_in_new_york_lists_in_berlin_time(store: Store) -> None:
    async with session(store, timezone="Europe/Berlin") as client:
        created = await call(
            client, "create_event", summary="Call NY", start="2025-06-02T09:00", timezone="America/New_York"
        )
        at_15_berlin = await call(client, "list_events", start="2025-06-02T14:30", end="2025-06-02T15:30")
        at_9_berlin = await call(client, "list_events", start="2025-06-02T08:30", end="2025-06-02T09:30")
    assert created["start"] == "2025-06-02T09:00:00-04:00"
    assert created["timezone"] == "America/New_York"
    assert [e["start"] for e in at_15_berlin] == ["2025-06-02T15:00:00+02:00"]
    assert at_9_berlin == []


@pytest.mark.parametrize("configured", ["Etc/UTC", "UTC"])
async def test_a_utc_calendar_names_its_zone_the_same_in_every_tool(store: Store, configured: str) -> None:
    """A UTC time is saved as "...Z" and read back as "UTC": every tool still says the configured name."""
    async with session(store, timezone=configured) as client:
        created = await call(client, "create_event", summary="Sync", start="2025-06-02T10:00")
        explicit = await call(
            client, "create_event", summary="Z", start="2025-06-02T12:00", timezone="Etc/Zulu"
        )
        listed = await call(client, "list_events", start="2025-06-02", end="2025-06-02")
        updated = await call(client, "update_event", uid=created["uid"], summary="Sync 2")
        deleted = await call(client, "delete_event", uid=explicit["uid"])
    zones = [
        created["timezone"],
        explicit["timezone"],
        *(e["timezone"] for e in listed),
        updated["event"]["timezone"],
        updated["previous"]["timezone"],
        deleted["deleted"]["timezone"],
    ]
    assert zones == [configured] * 7


async def test_utc_events_in_a_berlin_calendar_are_called_utc(store: Store) -> None:
    async with session(store, timezone="Europe/Berlin") as client:
        created = await call(
            client, "create_event", summary="x", start="2025-06-02T10:00", timezone="Etc/UTC"
        )
        listed = await call(client, "list_events", start="2025-06-02", end="2025-06-02")
    assert created["timezone"] == listed[0]["timezone"] == "UTC"


async def test_series_keeps_local_time_across_dst(store: Store) -> None:
    """09:00 New York every week: US clocks change 2025-03-09, European ones 2025-03-30."""
    async with session(store, timezone="America/New_York") as client:
        await call(
            client,
            "create_event",
            summary="Standup",
            start="2025-03-03T09:00",
            duration_minutes=15,
            rrule="FREQ=WEEKLY;COUNT=5",
        )
    async with session(store, timezone="Europe/Berlin") as client:
        berlin = await call(client, "list_events", start="2025-03-01", end="2025-04-05")
    async with session(store, timezone="UTC") as client:
        utc = await call(client, "list_events", start="2025-03-01", end="2025-04-05")
    assert [e["start"] for e in berlin] == [
        "2025-03-03T15:00:00+01:00",
        "2025-03-10T14:00:00+01:00",
        "2025-03-17T14:00:00+01:00",
        "2025-03-24T14:00:00+01:00",
        "2025-03-31T15:00:00+02:00",
    ]
    assert [e["start"][11:16] for e in utc] == ["14:00", "13:00", "13:00", "13:00", "13:00"]


async def test_update_moves_event_and_reports_previous(store: Store) -> None:
    async with session(store) as client:
        created = await call(
            client,
            "create_event",
            summary="Review",
            start="2025-06-03T10:00",
            duration_minutes=30,
            location="Room 1",
        )
        updated = await call(
            client, "update_event", uid=created["uid"], start="2025-06-03T16:00", location=""
        )
        listed = await call(client, "list_events", start="2025-06-03", end="2025-06-03")
    assert updated["previous"] == created
    assert (updated["event"]["start"], updated["event"]["end"]) == (
        "2025-06-03T16:00:00+02:00",
        "2025-06-03T16:30:00+02:00",
    )
    assert updated["event"]["location"] is None
    assert listed == [updated["event"]]


async def test_update_can_stop_a_series_repeating(store: Store) -> None:
    async with session(store) as client:
        created = await call(
            client, "create_event", summary="Class", start="2025-06-02T18:00", rrule="FREQ=WEEKLY"
        )
        await call(client, "update_event", uid=created["uid"], rrule="", summary="Last class")
        listed = await call(client, "list_events", start="2025-06-01", end="2025-06-30")
    assert [(e["summary"], e["recurring"]) for e in listed] == [("Last class", False)]


async def test_delete_removes_event_and_whole_series(store: Store) -> None:
    await anyio.to_thread.run_sync(store.add, weekly_with_exdate())
    async with session(store) as client:
        kept = await call(client, "create_event", summary="Keep", start="2025-06-04T12:00")
        deleted = await call(client, "delete_event", uid="weekly-1@example.org")
        listed = await call(client, "list_events", start="2025-06-01", end="2025-07-31")
        again = await error(client, "delete_event", uid="weekly-1@example.org")
    assert deleted["deleted"]["summary"] == "Team sync"
    assert listed == [kept]
    assert "no event with uid 'weekly-1@example.org'" in again


async def test_free_slots_avoid_events_and_respect_work_hours(store: Store) -> None:
    async with session(store, day_start="09:00", day_end="17:00") as client:
        await call(
            client,
            "create_event",
            summary="Standup",
            start="2025-06-02T09:00",
            duration_minutes=15,
            rrule="FREQ=DAILY;COUNT=10",
        )
        await call(client, "create_event", summary="1:1", start="2025-06-02T10:00", end="2025-06-02T11:00")
        await call(client, "create_event", summary="Lunch", start="2025-06-02T12:30", end="2025-06-02T14:30")
        await call(client, "create_event", summary="Evening", start="2025-06-02T18:00")
        hour = await call(
            client, "find_free_slots", duration_minutes=60, window_start="2025-06-02", window_end="2025-06-02"
        )
        long = await call(
            client,
            "find_free_slots",
            duration_minutes=120,
            window_start="2025-06-02",
            window_end="2025-06-03",
        )
        weekend = await call(
            client, "find_free_slots", duration_minutes=30, window_start="2025-06-07", window_end="2025-06-08"
        )
    assert [(s["start"][11:16], s["end"][11:16], s["minutes"]) for s in hour] == [
        ("11:00", "12:30", 90),
        ("14:30", "17:00", 150),
    ]  # 09:15-10:00 is only 45 minutes
    assert [(s["start"], s["minutes"]) for s in long] == [
        ("2025-06-02T14:30:00+02:00", 150),
        ("2025-06-03T09:15:00+02:00", 465),
    ]
    assert weekend == []


async def test_all_day_event_blocks_the_day_unless_transparent(store: Store) -> None:
    transparent = icalendar.Event()
    transparent.add("UID", "birthday@example.org")
    transparent.add("DTSTAMP", datetime(2025, 1, 1, tzinfo=ZoneInfo("UTC")))
    transparent.add("SUMMARY", "Birthday")
    transparent.add("DTSTART", date(2025, 6, 4))
    transparent.add("TRANSP", "TRANSPARENT")
    await anyio.to_thread.run_sync(store.add, transparent)
    async with session(store) as client:
        await call(client, "create_event", summary="Offsite", start="2025-06-03")
        slots = await call(
            client, "find_free_slots", duration_minutes=60, window_start="2025-06-03", window_end="2025-06-04"
        )
    assert [s["start"][:10] for s in slots] == ["2025-06-04"]


async def test_concurrent_creates_are_all_kept(store: Store) -> None:
    async with session(store) as client:
        async with anyio.create_task_group() as tg:
            for hour in range(8, 20):
                tg.start_soon(
                    lambda h=hour: call(
                        client,
                        "create_event",
                        summary=f"slot {h}",
                        start=f"2025-06-05T{h:02d}:00",
                        duration_minutes=30,
                    )
                )
        listed = await call(client, "list_events", start="2025-06-05", end="2025-06-05")
    assert sorted(e["summary"] for e in listed) == sorted(f"slot {h}" for h in range(8, 20))


TEN = {"summary": "x", "start": "2025-06-03T10:00"}
"""A valid create_event call that each case below spoils with one bad argument."""


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        ("create_event", {**TEN, "end": "2025-06-03T09:00"}, "must be after"),
        ("create_event", {**TEN, "start": "next tuesday"}, "cannot read 'next tuesday'"),
        ("create_event", {**TEN, "rrule": "FREQ=SOMETIMES"}, "bad recurrence"),
        ("create_event", {**TEN, "rrule": "FREQ=WEEKLY;BYDAY=XX"}, "bad recurrence"),
        ("create_event", {**TEN, "timezone": "Mars/Olympus"}, "unknown time zone"),
        ("create_event", {**TEN, "start": "2025-06-03", "end": "2025-06-03T12:00"}, "needs a date end"),
        ("create_event", {**TEN, "end": "2025-06-03T11:00", "duration_minutes": 30}, "not both"),
        ("create_event", {**TEN, "summary": "  "}, "title"),
        ("update_event", {"uid": "nope", "summary": "y"}, "no event with uid 'nope'"),
        ("delete_event", {"uid": "nope"}, "no event with uid 'nope'"),
        ("list_events", {"start": "2025-06-03", "end": "2025-06-01"}, "must be after"),
        ("list_events", {"start": "2020-01-01", "end": "2025-01-01"}, "too long"),
        ("find_free_slots", {"duration_minutes": 0, "window_start": "2025-06-03", "window_end": "2025-06-04"},
         "must be positive"),
    ],
)  # fmt: skip
async def test_bad_input_is_a_clear_tool_error(
    store: Store, tool: str, arguments: dict[str, Any], expected: str
) -> None:
    async with session(store) as client:
        message = await error(client, tool, **arguments)
        listed = await call(client, "list_events", start="2025-06-01", end="2025-06-30")
    assert expected in message
    assert listed == []  # nothing half-written


async def test_bad_update_changes_nothing(store: Store) -> None:
    async with session(store) as client:
        created = await call(client, "create_event", summary="Fixed", start="2025-06-03T10:00")
        message = await error(
            client, "update_event", uid=created["uid"], summary="Moved", end="2025-06-03T09:00"
        )
        listed = await call(client, "list_events", start="2025-06-03", end="2025-06-03")
    assert "must be after" in message
    assert listed == [created]


async def test_tool_annotations_guide_approval(tmp_path: Path) -> None:
    async with session(IcsStore(tmp_path / "c.ics")) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == {"list_events", "create_event", "update_event", "delete_event", "find_free_slots"}
    assert tools["list_events"].annotations.read_only_hint is True
    assert tools["find_free_slots"].annotations.read_only_hint is True
    assert tools["delete_event"].annotations.destructive_hint is True
    assert tools["create_event"].annotations.destructive_hint is False
    assert tools["update_event"].annotations.destructive_hint is False


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _ics(path: Path) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(path.read_bytes())


async def test_file_is_valid_icalendar_for_other_apps(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "calendar.ics"
    async with session(IcsStore(path)) as client:
        created = await call(
            client, "create_event", summary="Call NY", start="2025-06-02T09:00", timezone="America/New_York"
        )
        await call(client, "create_event", summary="Holiday", start="2025-08-15")
    calendar = _ics(path)
    assert calendar["PRODID"] == "-//mcp-voice//calendar//EN"
    assert calendar["VERSION"] == "2.0"
    events = calendar.walk("VEVENT")
    assert [str(e["SUMMARY"]) for e in events] == ["Call NY", "Holiday"]
    assert all("UID" in e and "DTSTAMP" in e for e in events)
    assert str(events[0]["UID"]) == created["uid"]
    assert events[0]["DTSTART"].params["TZID"] == "America/New_York"
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["America/New_York"]
    assert events[1].decoded("DTSTART") == date(2025, 8, 15)
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)


async def test_failed_write_leaves_the_old_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "calendar.ics"
    async with session(IcsStore(path)) as client:
        first = await call(client, "create_event", summary="Safe", start="2025-06-03T10:00")
        before = path.read_bytes()

        def crash(src: str, dst: str) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "replace", crash)
        message = await error(client, "create_event", summary="Lost", start="2025-06-03T12:00")
        deleted = await error(client, "delete_event", uid=first["uid"])
        listed = await call(client, "list_events", start="2025-06-03", end="2025-06-03")
    assert "could not save" in message and "No space left" in message
    assert "could not save" in deleted
    assert path.read_bytes() == before
    assert _names(tmp_path) == ["calendar.ics"]  # no temp files left
    assert listed == [first]


async def test_edits_by_another_app_are_seen_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "calendar.ics"
    async with session(IcsStore(path)) as client:
        await call(client, "create_event", summary="Ours", start="2025-06-03T10:00")
        assert len(await call(client, "list_events", start="2025-06-03", end="2025-06-03")) == 1
        calendar = _ics(path)  # another app adds a series and a to-do, rewriting the file in place
        calendar.add_component(weekly_with_exdate())
        todo = icalendar.Todo()
        todo.add("UID", "todo-1@example.org")
        todo.add("SUMMARY", "Buy milk")
        calendar.add_component(todo)
        path.write_bytes(calendar.to_ical())
        seen = await call(client, "list_events", start="2025-06-02", end="2025-06-03")
        await call(client, "create_event", summary="Ours too", start="2025-06-04T10:00")
    assert [e["summary"] for e in seen] == ["Team sync", "Ours"]
    saved = _ics(path)
    assert sorted(str(e["SUMMARY"]) for e in saved.walk("VEVENT")) == ["Ours", "Ours too", "Team sync"]
    assert [str(t["SUMMARY"]) for t in saved.walk("VTODO")] == ["Buy milk"]


async def test_broken_file_is_reported_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "calendar.ics"
    path.write_text("this is not a calendar")
    async with session(IcsStore(path)) as client:
        listing = await error(client, "list_events", start="2025-06-03", end="2025-06-03")
        creating = await error(client, "create_event", summary="x", start="2025-06-03T10:00")
    assert "not valid iCalendar" in listing and "not valid iCalendar" in creating
    assert path.read_text() == "this is not a calendar"


def test_settings_validate_zone_and_hours_and_ignore_policy_keys() -> None:
    settings = CalendarSettings.model_validate(
        {
            "timezone": "Asia/Tokyo",
            "day_start": "08:30",
            "day_end": "18:00",
            "approval": ["*"],
            "timeout_s": 5,
        }
    )
    assert (settings.timezone, settings.day_start.isoformat(), settings.day_end.isoformat()) == (
        "Asia/Tokyo", "08:30:00", "18:00:00",
    )  # fmt: skip
    for bad in ({"timezone": "Europe/Nowhere"}, {"day_start": "18:00", "day_end": "09:00"},
                {"work_days": [0]}, {"caldav_url": "ftp://x"}):  # fmt: skip
        with pytest.raises(ValueError):
            CalendarSettings.model_validate(bad)


async def test_plugin_registers_calendar_server_from_config(tmp_path: Path) -> None:
    from mcp_voice.config import ConfigError, load_config
    from mcp_voice_calendar import register_servers

    config_file = tmp_path / "mcp-voice.toml"
    config_file.write_text(
        '[plugins.calendar]\nstore = "data/me.ics"\ntimezone = "America/New_York"\napproval = ["*"]\n'
    )
    specs: list[Any] = []
    register_servers(register=specs.append, config=load_config(config_file))
    [spec] = specs
    assert (spec.name, spec.plugin, spec.kind) == ("calendar", "calendar", "in-process")
    async with Client(spec.target) as client:
        created = await call(client, "create_event", summary="From config", start="2025-06-03T10:00")
    assert created["start"] == "2025-06-03T10:00:00-04:00"
    assert [str(e["SUMMARY"]) for e in _ics(tmp_path / "data" / "me.ics").walk("VEVENT")] == ["From config"]

    config_file.write_text('[plugins.calendar]\ntimezone = "Mars/Olympus"\n')
    with pytest.raises(ConfigError, match=r"plugins\.calendar\.timezone"):
        register_servers(register=specs.append, config=load_config(config_file))


async def test_calendar_entry_point_through_open_tools(tmp_path: Path) -> None:
    """The installed `calendar` entry point, loaded and run by the framework like in production."""
    from mcp_voice.api import open_tools

    config_file = tmp_path / "mcp-voice.toml"
    config_file.write_text('[plugins.calendar]\ntimezone = "Europe/Berlin"\n')
    async with open_tools(config_file, plugins=["calendar"], env={}) as registry:
        tools = {t.tool_name: t for t in registry.tools(["calendar"])}
        result = await registry.call(
            tools["create_event"].name, {"summary": "Via registry", "start": "2025-06-03T10:00"}
        )
    assert not result.is_error, result.output
    assert tools["delete_event"].policy.approval is True  # destructive: the host asks first
    assert tools["update_event"].policy.approval is False
    assert tools["list_events"].read_only and tools["find_free_slots"].read_only
    assert json.loads(result.output)["start"] == "2025-06-03T10:00:00+02:00"
    assert [str(e["SUMMARY"]) for e in _ics(tmp_path / "calendar.ics").walk("VEVENT")] == ["Via registry"]


@pytest.mark.parametrize(
    "old_end",
    [date(2025, 6, 4), datetime(2025, 6, 3, 11, 0)],
    ids=["date-end", "floating-end"],
)
def test_moving_an_event_whose_end_is_of_another_kind_gets_the_default_length(old_end: date) -> None:
    """Another app's DTEND may be a date, or floating, beside a zoned DTSTART: not a length to keep."""
    berlin = ZoneInfo("Europe/Berlin")
    event = icalendar.Event()
    event.add("UID", "odd-end@example.org")
    event.add("SUMMARY", "Odd")
    event.add("DTSTART", datetime(2025, 6, 3, 10, 0, tzinfo=berlin))
    event.add("DTEND", old_end)
    edit_event(event, Fields(start="2025-06-03T16:00"), berlin)
    assert event.decoded("DTSTART") == datetime(2025, 6, 3, 16, 0, tzinfo=berlin)
    assert event.decoded("DTEND") == datetime(2025, 6, 3, 16, 0, tzinfo=berlin) + DEFAULT_DURATION
