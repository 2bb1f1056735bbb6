"""The embedding API of the tool layer: config + plugins -> a started `ToolRegistry`.

`load_tools()` does the synchronous part (load plugins, collect servers, apply config) and
keeps every problem in `ToolSetup.errors`; `open_tools()` is the one-line version for callers
that only want the registry (it logs those problems as warnings).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mcp.types

from mcp_voice.config import Config, ConfigError, PolicyKeys, config_server_specs, load_config
from mcp_voice.plugins import (
    PluginSet,
    collect_servers,
    did_you_mean,
    make_plugin_manager,
    preserve_root_logging,
)
from mcp_voice.tools.registry import ToolRegistry
from mcp_voice.tools.spec import ServerSpec, ToolEvent, ToolPolicy

if TYPE_CHECKING:
    from mcp_voice.session.context import CallContext
    from mcp_voice.session.decision import CallDecision

logger = logging.getLogger("mcp_voice")


@dataclass
class ToolSetup:
    """Everything needed to start the tools, and what went wrong getting there."""

    config: Config
    plugins: PluginSet
    specs: list[ServerSpec]
    errors: dict[str, str] = field(default_factory=dict)
    """Plugin name (or `servers.NAME`) -> message: load, registration and config problems."""

    def registry(self, *, startup_wait_s: float | None = None) -> ToolRegistry:
        """A registry over `specs` with the `tool_policy` and `tool_event` hooks wired in."""
        hook = self.plugins.hook
        has_policy = bool(hook.tool_policy.get_hookimpls())
        has_event = bool(hook.tool_event.get_hookimpls())
        return ToolRegistry(
            self.specs,
            policy_hook=self._policy if has_policy else None,
            on_event=self._event if has_event else None,
            startup_wait_s=startup_wait_s,
        )

    def _policy(self, server: str, tool: mcp.types.Tool, policy: ToolPolicy) -> ToolPolicy | None:
        # Called per implementation (pluggy's order) so a failing plugin is named and skipped.
        for impl in reversed(self.plugins.hook.tool_policy.get_hookimpls()):
            args = {"server": server, "tool": tool, "policy": policy}
            try:
                result = impl.function(**{name: args[name] for name in impl.argnames})
            except Exception:
                logger.warning(
                    "plugin %r: tool_policy failed for %s", impl.plugin_name, server, exc_info=True
                )
                continue
            if result is None:
                continue
            if not isinstance(result, ToolPolicy):
                logger.warning(
                    "plugin %r: tool_policy returned %r, not a ToolPolicy", impl.plugin_name, result
                )
                continue
            return result
        return None

    def session_observer(self) -> PluginSessionObserver:
        """The `session_started` / `session_ended` hooks as a `SessionObserver` for the host."""
        return PluginSessionObserver(self.plugins.hook)

    def _event(self, event: ToolEvent) -> None:
        for impl in reversed(self.plugins.hook.tool_event.get_hookimpls()):
            try:
                impl.function(**{name: event for name in impl.argnames})
            except Exception:
                logger.warning(
                    "plugin %r: tool_event failed on %s", impl.plugin_name, event.kind, exc_info=True
                )


class PluginSessionObserver:
    """Calls every plugin's session hooks; a failing plugin is logged by name and skipped."""

    def __init__(self, hook: Any) -> None:
        self._hook = hook

    def session_started(self, context: CallContext) -> None:
        self._call("session_started", context=context)

    def session_ended(self, context: CallContext, reason: str) -> None:
        self._call("session_ended", context=context, reason=reason)

    def incoming_call(self, context: CallContext) -> CallDecision | None:
        """The first plugin's `CallDecision` for a ringing call (a failing plugin is skipped), or None."""
        from mcp_voice.session.decision import CallDecision

        for impl in reversed(self._hook.incoming_call.get_hookimpls()):
            try:
                result = impl.function(**{arg: context for arg in impl.argnames})
            except Exception:
                logger.warning("plugin %r: incoming_call failed", impl.plugin_name, exc_info=True)
                continue
            if result is None:
                continue
            if isinstance(result, CallDecision):
                return result
            logger.warning(
                "plugin %r: incoming_call returned %r, not a CallDecision", impl.plugin_name, result
            )
        return None

    def _call(self, name: str, **args: Any) -> None:
        for impl in reversed(getattr(self._hook, name).get_hookimpls()):
            try:
                impl.function(**{arg: args[arg] for arg in impl.argnames})
            except Exception:
                logger.warning("plugin %r: %s failed", impl.plugin_name, name, exc_info=True)


def load_tools(
    config: Config | str | Path | None = None,
    *,
    plugins: Sequence[str] | None = None,
    block: Sequence[str] = (),
    extra_plugins: Sequence[object] = (),
    env: Mapping[str, str] = os.environ,
) -> ToolSetup:
    """Load plugins and config into a `ToolSetup`; only a bad config file raises (`ConfigError`).

    `config`: a `Config`, a path, or None (`$MCP_VOICE_CONFIG`, else ./mcp-voice.toml, else
    defaults). `plugins`: allow-list of installed plugins (None: `$MCP_VOICE_PLUGINS` or all).
    `block`: plugins never to load. `extra_plugins`: plugin objects registered directly.
    """
    if not isinstance(config, Config):
        config = load_config(config, env=env)
    config = config.with_env(env)
    # Plugins (and the MCPServers they build) must not reconfigure the embedder's logging.
    with preserve_root_logging():
        plugin_set = make_plugin_manager(allow=plugins, block=block, extra=extra_plugins, env=env)
    errors = dict(plugin_set.errors)
    for name in config.plugins:
        if name not in plugin_set.plugins:
            hint = did_you_mean(name, plugin_set.installed)
            errors.setdefault(
                name, f"[plugins.{name}] is set in the config but no plugin {name!r} is installed{hint}"
            )

    with preserve_root_logging():
        plugin_specs, register_errors = collect_servers(plugin_set, config)
    errors.update(register_errors)
    # Only a plugin that failed to register or whose settings are bad loses its servers; a load
    # error about another copy of it (installed twice) leaves the loaded copy's servers alone.
    failed = set(register_errors)
    specs: list[ServerSpec] = []
    for spec in plugin_specs:
        plugin = spec.plugin or ""
        if plugin in failed:
            continue
        try:
            overrides = config.plugin_settings(plugin, PolicyKeys).overrides()
        except ConfigError as e:
            errors[plugin] = str(e)
            failed.add(plugin)
            continue
        specs.append(dataclasses.replace(spec, **overrides))
    specs = [s for s in specs if (s.plugin or "") not in failed]

    taken = {spec.name: spec.plugin for spec in specs}
    for spec in config_server_specs(config, env=env):
        if spec.name in taken:
            errors[f"servers.{spec.name}"] = (
                f"the name {spec.name!r} is already used by plugin {taken[spec.name]!r}"
            )
            continue
        specs.append(spec)
    return ToolSetup(config=config, plugins=plugin_set, specs=specs, errors=errors)


@asynccontextmanager
async def open_tools(
    config: Config | str | Path | None = None,
    *,
    plugins: Sequence[str] | None = None,
    block: Sequence[str] = (),
    extra_plugins: Sequence[object] = (),
    env: Mapping[str, str] = os.environ,
) -> AsyncIterator[ToolRegistry]:
    """A started `ToolRegistry` over every plugin's servers and the config's `[servers.*]`.

    Plugin problems are logged as warnings on the "mcp_voice" logger (use `load_tools()` to get
    them as data); servers that fail to start are in `registry.errors`. Example::

        async with open_tools("mcp-voice.toml", plugins=["filesystem"]) as tools:
            print([t.name for t in tools.tools()])
            result = await tools.call("filesystem__read_file", {"path": "notes.txt"})
            print(result.output)
    """
    setup = load_tools(config, plugins=plugins, block=block, extra_plugins=extra_plugins, env=env)
    for name, message in setup.errors.items():
        logger.warning("plugin %s: %s", name, message)
    async with setup.registry() as registry:
        yield registry
