"""The plugin side: `[plugins.filesystem]` settings and the `register_servers` hook."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ConfigDict, Field, field_validator

from mcp_voice import Config, PolicyKeys, ServerSpec, hookimpl

from .jail import DEFAULT_EXCLUDE, RootError
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
    include_hidden: bool = False
    """Share hidden entries (names starting with ".": .git, .env, .venv); off by default."""
    exclude: list[str] = Field(default_factory=lambda: list(DEFAULT_EXCLUDE))
    """Glob patterns of names (any path component) never listed, searched, read or written."""
    refuse_hardlinks: bool = False
    """Refuse to read files with more than one hard link: the jail cannot tell whether another
    link is outside the shared folder (a hard link is the same file under two names)."""

    @field_validator("exclude")
    @classmethod
    def _names_only(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            if "/" in pattern or not pattern.strip():
                raise ValueError(f"{pattern!r}: exclude patterns match single names, e.g. 'build' or '*.log'")
        return patterns


@hookimpl
def register_servers(register: Callable[[ServerSpec], None], config: Config) -> None:
    settings = config.plugin_settings(PLUGIN_NAME, FilesystemSettings)
    root = config.resolve_path(settings.root)
    try:
        server = build_server(
            root,
            writable=settings.writable,
            max_read_bytes=settings.max_read_bytes,
            include_hidden=settings.include_hidden,
            exclude=settings.exclude,
            refuse_hardlinks=settings.refuse_hardlinks,
        )
    except RootError as exc:
        raise config.error(f"plugins.{PLUGIN_NAME}.root", f"'{settings.root}': {exc}") from None
    # Printed at serve start: a --config in another folder moves the root with it.
    mode = "read-write" if settings.writable else "read-only"
    summary = f"shares {root} ({mode}; root resolved against {config.base_dir})"
    register(ServerSpec(name=SERVER_NAME, target=server, plugin=PLUGIN_NAME, summary=summary))
