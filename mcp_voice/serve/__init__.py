"""`mcp-voice serve`: the session host as a Realtime-compatible WebSocket endpoint.

`create_app(registry, settings)` is the Starlette app (embed it anywhere ASGI runs);
`run.serve(config, options)` is what the command runs. Imported lazily so `serve.auth` and
`serve.targets` stay cheap to import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp_voice.serve.app import ServeSettings, create_app

__all__ = ["ServeSettings", "create_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from mcp_voice.serve import app

        return getattr(app, name)
    raise AttributeError(name)
