"""The CalDAV backend against a real Radicale server: sharing a calendar with other clients."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import caldav
import pytest
from mcp import Client

from mcp_voice_calendar import CalDavStore, CalendarSettings, build_server
from tests.plugins.calendar_calls import call, error

pytestmark = [pytest.mark.anyio, pytest.mark.radicale]

# As Thunderbird writes it: an RRULE-style VTIMEZONE, a weekly series, one occurrence moved.
OTHER_CLIENT_ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN
BEGIN:VTIMEZONE
TZID:America/New_York
BEGIN:DAYLIGHT
TZOFFSETFROM:-0500
TZOFFSETTO:-0400
TZNAME:EDT
DTSTART:19700308T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:-0400
TZOFFSETTO:-0500
TZNAME:EST
DTSTART:19701101T020000
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU
END:STANDARD
END:VTIMEZONE
BEGIN:VEVENT
UID:planning@example.org
DTSTAMP:20250101T000000Z
SUMMARY:Planning
DTSTART;TZID=America/New_York:20250602T090000
DTEND;TZID=America/New_York:20250602T100000
RRULE:FREQ=WEEKLY;COUNT=3
END:VEVENT
BEGIN:VEVENT
UID:planning@example.org
DTSTAMP:20250101T000000Z
RECURRENCE-ID;TZID=America/New_York:20250609T090000
SUMMARY:Planning (moved)
DTSTART;TZID=America/New_York:20250610T110000
DTEND;TZID=America/New_York:20250610T120000
END:VEVENT
END:VCALENDAR
"""


@asynccontextmanager
async def session(
    url: str, *, username: str | None = None, password: str | None = None, **settings: Any
) -> AsyncIterator[Client]:
    settings.setdefault("timezone", "Europe/Berlin")
    store = CalDavStore(url, username=username, password=password, timeout_s=5)
    async with Client(build_server(store, CalendarSettings(**settings))) as client:
        yield client


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def other_client(target: Any) -> caldav.Calendar:
    """The same collection as another CalDAV app sees it."""
    client = caldav.DAVClient(url=target.url, username=target.username, password=target.password)
    return client.calendar(url=target.url)


async def test_series_from_another_client_is_expanded_with_its_moved_occurrence(caldav_calendar: Any) -> None:
    await anyio.to_thread.run_sync(lambda: other_client(caldav_calendar).add_event(OTHER_CLIENT_ICS))
    async with session(
        caldav_calendar.url, username=caldav_calendar.username, password=caldav_calendar.password
    ) as client:
        listed = await call(client, "list_events", start="2025-06-01", end="2025-06-30")
    assert [(e["summary"], e["start"]) for e in listed] == [
        ("Planning", "2025-06-02T15:00:00+02:00"),
        ("Planning (moved)", "2025-06-10T17:00:00+02:00"),
        ("Planning", "2025-06-16T15:00:00+02:00"),
    ]
    assert all(e["recurring"] for e in listed)


async def test_tool_changes_are_visible_to_other_clients(caldav_calendar: Any) -> None:
    async with session(
        caldav_calendar.url, username=caldav_calendar.username, password=caldav_calendar.password
    ) as client:
        created = await call(
            client,
            "create_event",
            summary="Demo",
            start="2025-06-03T10:00",
            location="Lab",
            rrule="FREQ=DAILY;COUNT=2",
        )
        seen = await anyio.to_thread.run_sync(other_client(caldav_calendar).get_event_by_uid, created["uid"])
        await call(client, "update_event", uid=created["uid"], summary="Demo v2")
        updated = await anyio.to_thread.run_sync(
            other_client(caldav_calendar).get_event_by_uid, created["uid"]
        )
        await call(client, "delete_event", uid=created["uid"])
        remaining = await anyio.to_thread.run_sync(lambda: other_client(caldav_calendar).get_events())
    first = seen.icalendar_component
    assert (str(first["SUMMARY"]), str(first["LOCATION"])) == ("Demo", "Lab")
    assert first["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert first["RRULE"].to_ical() == b"FREQ=DAILY;COUNT=2"
    second = updated.icalendar_component
    assert str(second["SUMMARY"]) == "Demo v2"
    assert int(second["SEQUENCE"]) == 1
    assert remaining == []


async def test_missing_calendar_is_a_clear_error(radicale_url: str) -> None:
    async with session(f"{radicale_url}alice/no-such-calendar/", username="alice", password="x") as client:
        message = await error(client, "list_events", start="2025-06-01", end="2025-06-02")
    assert "no CalDAV calendar at" in message and "no-such-calendar" in message


async def test_unreachable_server_is_a_clear_error() -> None:
    # Bound but never listening: connections are refused, and no other server can take the port
    # meanwhile (closing the socket first let a later server reuse it, and the test flaked).
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        url = f"http://127.0.0.1:{port}/alice/work/"
        async with session(url) as client:
            listing = await error(client, "list_events", start="2025-06-01", end="2025-06-02")
            creating = await error(client, "create_event", summary="x", start="2025-06-01T10:00")
    assert f"CalDAV server at {url} failed" in listing
    assert f"CalDAV server at {url} failed" in creating


async def test_config_with_caldav_url_uses_the_server_not_a_file(
    caldav_calendar: Any, tmp_path: Path
) -> None:
    from mcp_voice.config import load_config
    from mcp_voice_calendar import register_servers

    config_file = tmp_path / "mcp-voice.toml"
    config_file.write_text(
        "[plugins.calendar]\n"
        f'caldav_url = "{caldav_calendar.url}"\n'
        f'caldav_username = "{caldav_calendar.username}"\n'
        f'caldav_password = "{caldav_calendar.password}"\n'
        'timezone = "UTC"\n'
    )
    specs: list[Any] = []
    register_servers(register=specs.append, config=load_config(config_file))
    async with Client(specs[0].target) as client:
        created = await call(client, "create_event", summary="Via config", start="2025-06-03T10:00")
    stored = await anyio.to_thread.run_sync(other_client(caldav_calendar).get_event_by_uid, created["uid"])
    assert str(stored.icalendar_component["SUMMARY"]) == "Via config"
    assert _names(tmp_path) == ["mcp-voice.toml"]  # no .ics file written


async def test_update_does_not_overwrite_a_concurrent_change_by_another_client(caldav_calendar: Any) -> None:
    from mcp_voice_calendar import StoreError
    from mcp_voice_calendar.model import Fields, edit_event, new_event
    from mcp_voice_calendar.times import zone

    target = caldav_calendar
    store = CalDavStore(target.url, username=target.username, password=target.password)
    event = new_event(Fields(summary="Original", start="2025-06-03T10:00"), zone("UTC"))
    uid = str(event["UID"])
    await anyio.to_thread.run_sync(store.add, event)

    def edit_while_someone_else_saves(master: Any) -> None:
        theirs = other_client(caldav_calendar).get_event_by_uid(uid)
        theirs.icalendar_component["SUMMARY"] = "Theirs"
        theirs.save()
        edit_event(master, Fields(summary="Ours"), zone("UTC"))

    with pytest.raises(StoreError, match="changed elsewhere"):
        await anyio.to_thread.run_sync(store.change, uid, edit_while_someone_else_saves)
    kept = await anyio.to_thread.run_sync(other_client(caldav_calendar).get_event_by_uid, uid)
    assert str(kept.icalendar_component["SUMMARY"]) == "Theirs"
