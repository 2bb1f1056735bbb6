"""mcp-voice calendar plugin: events in an .ics file or on a CalDAV server (docs/calendar.md).

This module is the `calendar` entry point, so it exposes the hook implementation.
"""

from .errors import CalendarError, StoreError, UnknownEventError
from .plugin import open_store, register_servers
from .server import build_server
from .settings import CalendarSettings
from .store import Store
from .store_caldav import CalDavStore
from .store_ics import IcsStore

__all__ = [
    "CalDavStore",
    "CalendarError",
    "CalendarSettings",
    "IcsStore",
    "Store",
    "StoreError",
    "UnknownEventError",
    "build_server",
    "open_store",
    "register_servers",
]
