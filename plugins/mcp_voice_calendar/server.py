"""The "calendar" MCP server: five tools a voice model can call, over any Store."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Annotated, TypeVar
from zoneinfo import ZoneInfo

import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from mcp_voice import preserve_root_logging

from .errors import CalendarError
from .model import EventOut, Fields
from .service import CalendarService, Deleted, Slot, Updated
from .settings import CalendarSettings
from .store import Store
from .times import zone

T = TypeVar("T")

When = Annotated[str, Field(description="ISO 8601 date (2025-06-02) or time (2025-06-02T14:30)")]
Uid = Annotated[str, Field(description="the event's uid, from list_events or create_event")]
Zone = Annotated[str | None, Field(description="IANA zone for times without an offset, e.g. Europe/Berlin")]
Rrule = Annotated[str | None, Field(description="RFC 5545 repeat rule, e.g. FREQ=WEEKLY;BYDAY=MO;COUNT=10")]

INSTRUCTIONS = (
    "A personal calendar. Times without an offset are in the calendar's time zone ({zone}). "
    "All-day events use dates; their end is the last day, inclusive."
)


async def _offload(fn: Callable[[], T]) -> T:
    """Run blocking store work in a thread (cancellable) and turn problems into tool errors."""
    try:
        return await anyio.to_thread.run_sync(fn, abandon_on_cancel=True)
    except CalendarError as exc:
        raise ToolError(str(exc)) from None


def _tz(name: str | None) -> ZoneInfo | None:
    try:
        return zone(name) if name else None
    except CalendarError as exc:
        raise ToolError(str(exc)) from None


def build_server(store: Store, settings: CalendarSettings | None = None) -> MCPServer:
    """An in-process MCP server named "calendar" over `store`."""
    settings = settings or CalendarSettings()
    service = CalendarService(store, settings)
    with preserve_root_logging():  # MCPServer would otherwise call logging.basicConfig
        server: MCPServer = MCPServer(
            "calendar", instructions=INSTRUCTIONS.format(zone=settings.timezone), log_level="WARNING"
        )
    read_only = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True)
    additive = ToolAnnotations(read_only_hint=False, destructive_hint=False)
    # update returns the previous values, so the model can undo it: not destructive (no approval).
    reversible = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True)
    destructive = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True)

    @server.tool(annotations=read_only)
    async def list_events(start: When, end: When) -> list[EventOut]:
        """List events between start and end (a date end includes that day). Repeating events
        appear once per occurrence."""
        return await _offload(partial(service.list_events, start, end))

    @server.tool(annotations=additive)
    async def create_event(
        summary: Annotated[str, Field(description="the event's title")],
        start: Annotated[str, Field(description="ISO 8601 time, or a date for an all-day event")],
        end: Annotated[str | None, Field(description="end time, or last day of an all-day event")] = None,
        duration_minutes: Annotated[int | None, Field(description="instead of end; default 60")] = None,
        location: str | None = None,
        description: str | None = None,
        rrule: Rrule = None,
        timezone: Zone = None,
    ) -> EventOut:
        """Add an event to the calendar. Returns it with its uid."""
        fields = Fields(
            summary=summary,
            start=start,
            end=end,
            duration_minutes=duration_minutes,
            location=location,
            description=description,
            rrule=rrule,
            timezone=_tz(timezone),
        )
        return await _offload(partial(service.create_event, fields))

    @server.tool(annotations=reversible)
    async def update_event(
        uid: Uid,
        summary: str | None = None,
        start: Annotated[str | None, Field(description="new start; the duration is kept")] = None,
        end: str | None = None,
        duration_minutes: int | None = None,
        location: Annotated[str | None, Field(description='"" removes it')] = None,
        description: Annotated[str | None, Field(description='"" removes it')] = None,
        rrule: Annotated[str | None, Field(description='new repeat rule; "" stops repeating')] = None,
        timezone: Zone = None,
    ) -> Updated:
        """Change an event (the whole series if it repeats); omitted fields stay as they are.
        Returns the event and its previous values."""
        fields = Fields(
            summary=summary,
            start=start,
            end=end,
            duration_minutes=duration_minutes,
            location=location,
            description=description,
            rrule=rrule,
            timezone=_tz(timezone),
        )
        return await _offload(partial(service.update_event, uid, fields))

    @server.tool(annotations=destructive)
    async def delete_event(uid: Uid) -> Deleted:
        """Delete an event; a repeating event is deleted with all its occurrences."""
        return await _offload(partial(service.delete_event, uid))

    @server.tool(annotations=read_only)
    async def find_free_slots(
        duration_minutes: Annotated[int, Field(description="how long the free time must be")],
        window_start: When,
        window_end: When,
    ) -> list[Slot]:
        """Free periods of at least duration_minutes within work hours between window_start and
        window_end, earliest first."""
        return await _offload(partial(service.find_free_slots, duration_minutes, window_start, window_end))

    return server
