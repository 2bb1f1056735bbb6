"""The `calendar` plugin: reads `[plugins.calendar]` and registers the "calendar" server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mcp_voice import Config, ServerSpec, hookimpl

from .server import build_server
from .settings import CalendarSettings
from .store import Store
from .store_caldav import CalDavStore
from .store_ics import IcsStore


def open_store(settings: CalendarSettings, base_dir: Path) -> Store:
    """CalDAV when `caldav_url` is set, else the .ics file (relative to `base_dir`)."""
    if settings.caldav_url:
        password = settings.caldav_password.get_secret_value() if settings.caldav_password else None
        return CalDavStore(settings.caldav_url, username=settings.caldav_username, password=password)
    path = Path(settings.store).expanduser()
    return IcsStore(path if path.is_absolute() else base_dir / path)


@hookimpl
def register_servers(register: Callable[[ServerSpec], None], config: Config) -> None:
    settings = config.plugin_settings("calendar", CalendarSettings)
    store = open_store(settings, config.base_dir)
    register(ServerSpec(name="calendar", target=build_server(store, settings), plugin="calendar"))
