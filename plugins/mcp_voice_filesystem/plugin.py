"""The plugin side: `[plugins.filesystem]` settings and the `register_servers` hook."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ConfigDict, Field

from mcp_voice.config import Config, ConfigError, PolicyKeys
from mcp_voice.hookspecs import hookimpl
from mcp_voice.tools.spec import ServerSpec

from .jail import RootError
from .server import DEFAULT_MAX_READ_BYTES, SERVER_NAME, build_server

PLUGIN_NAME = "filesystem"


class FilesystemSettings(PolicyKeys):
    """`[plugins.filesystem]`. The inherited policy keys are the framework's; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")

    root: str = "."
    """The shared folder; relative to the config file's folder (the cwd without a file)."""
    writable: bool = False
    """Offer write_file, make_directory and move."""
    max_read_bytes: int = Field(default=DEFAULT_MAX_READ_BYTES, gt=0)
    """read_file returns at most this much text per call."""


@hookimpl
def register_servers(register: Callable[[ServerSpec], None], config: Config) -> None:
    settings = config.plugin_settings(PLUGIN_NAME, FilesystemSettings)
    root = config.resolve_path(settings.root)
    try:
        server = build_server(root, writable=settings.writable, max_read_bytes=settings.max_read_bytes)
    except RootError as exc:
        where = f"{config.source}: " if config.source is not None else ""
        raise ConfigError(f"{where}plugins.{PLUGIN_NAME}.root: '{settings.root}': {exc}") from None
    register(ServerSpec(name=SERVER_NAME, target=server, plugin=PLUGIN_NAME))
