"""The hooks a plugin can implement; everything else a plugin does goes through MCP.

A plugin is a module or an object with `@hookimpl` functions, registered from an entry point of
group `mcp_voice` (or passed directly, as tests do). See docs/plugins.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import mcp.types

    from mcp_voice.config import Config
    from mcp_voice.session.context import CallContext
    from mcp_voice.session.decision import CallDecision
    from mcp_voice.tools.spec import ServerSpec, ToolEvent, ToolPolicy

PROJECT = "mcp_voice"
"""pluggy project name; also the entry-point group."""

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_servers(register: Callable[[ServerSpec], None], config: Config) -> None:
    """Contribute MCP servers by calling `register(ServerSpec(...))` once per server.

    Read your own settings with `config.plugin_settings("<name>", YourSettingsModel)`; a bad
    value then raises a `ConfigError` naming the key and the file. The host records which plugin
    registered each server (`ServerSpec.plugin`) and applies the common policy keys of
    `[plugins.<name>]` to them, so a plugin need not handle those. If this hook raises, the error
    is reported under the plugin's name and the other plugins still register.
    """


@hookspec(firstresult=True)
def tool_policy(server: str, tool: mcp.types.Tool, policy: ToolPolicy) -> ToolPolicy | None:
    """Return a replacement policy for one tool, or None to keep it.

    Called once per tool when the registry lists a server's tools, after the spec, the tool's
    `_meta` keys and its `destructive_hint` have been applied. The first non-None answer wins.
    """


@hookspec
def tool_event(event: ToolEvent) -> None:
    """Observe tool activity: started, progress, finished, failed, cancelled, tools_changed,
    server_restarted.

    Called synchronously on the event loop: keep it quick and non-blocking. An exception here is
    logged and does not affect the call.
    """


@hookspec
def session_started(context: CallContext) -> None:
    """A session began: `context` says which transport carried it and, for phone calls, who
    called (caller, callee, custom parameters, SIP headers: untrusted data).

    Called on the event loop: keep it quick. An exception here is logged; the session goes on.
    The same context reaches every tool call as the MCP `_meta` key `dev.mcp-voice/call`.
    """


@hookspec
def session_ended(context: CallContext, reason: str) -> None:
    """A session ended; `reason` says why (the client left, the call hung up, the upstream failed)."""


@hookspec(firstresult=True)
def incoming_call(context: CallContext) -> CallDecision | None:
    """An OpenAI SIP call is ringing: return `CallDecision.accept(session)`, `.reject(status)` or
    `.refer(target_uri)`, or None to leave it to the next plugin (in the end: accept with the
    configured session).

    `context` has `transport="sip"`, `call_id`, `caller`, `callee` and the INVITE's `headers`
    (untrusted). Called on the event loop before the call is answered: keep it quick. An
    exception or a value that is not a `CallDecision` is logged and skipped.
    """
