"""Finding and loading plugins, one at a time, so one broken plugin never hides the others.

There is no module-level plugin manager: `make_plugin_manager()` builds one and callers pass it
on. Entry points of group `mcp_voice` are loaded individually (not with pluggy's all-or-nothing
`load_setuptools_entrypoints`) and every failure is recorded under the plugin's name.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.metadata
import logging
import os
import types
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import pluggy

from mcp_voice import hookspecs
from mcp_voice.config import Config, ConfigError
from mcp_voice.tools.spec import ServerSpec

ALLOW_ENV = "MCP_VOICE_PLUGINS"
BLOCK_ENV = "MCP_VOICE_BLOCK_PLUGINS"

Status = Literal["loaded", "error", "blocked", "not allowed"]


@dataclass
class PluginInfo:
    """One plugin as `mcp-voice plugins` shows it."""

    name: str
    version: str = "-"
    package: str = "-"
    """The distribution that provides it ("-" for plugins passed in directly)."""
    status: Status = "loaded"
    error: str | None = None
    servers: list[str] = field(default_factory=list)


@dataclass
class PluginSet:
    """A plugin manager plus what happened while filling it."""

    pm: pluggy.PluginManager
    plugins: dict[str, PluginInfo] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    """Plugin name -> why it failed to load (or, for an allow-list entry, that it does not exist)."""
    missing: set[str] = field(default_factory=set)
    """Allow-list names that match no plugin (they are in `plugins` only to show the error)."""
    warnings: list[str] = field(default_factory=list)
    """Harmless but probably unintended: a block-list name that matches no plugin."""

    @property
    def installed(self) -> list[str]:
        """Names of the plugins that exist (loaded or not): what a misspelt name is matched against."""
        return [name for name in self.plugins if name not in self.missing]

    @property
    def hook(self) -> pluggy.HookRelay:
        return self.pm.hook

    def error(self, name: str, message: str) -> None:
        self.errors[name] = message
        info = self.plugins.setdefault(name, PluginInfo(name=name))
        info.status, info.error = "error", message


def parse_names(value: str | Sequence[str] | None) -> list[str] | None:
    """'a, b' or ['a', 'b'] -> ['a', 'b']; None stays None (no list given)."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value
    return [item.strip() for item in items if item.strip()]


def make_plugin_manager(
    *,
    allow: Sequence[str] | None = None,
    block: Sequence[str] = (),
    extra: Sequence[object] = (),
    env: Mapping[str, str] = os.environ,
) -> PluginSet:
    """Load the installed plugins, honouring the allow-list and block-list, plus `extra` objects.

    `allow`: only these entry-point plugins (None: `$MCP_VOICE_PLUGINS` if set, else all; an empty
    list loads none). `block`: never these, added to `$MCP_VOICE_BLOCK_PLUGINS`. `extra`: plugin
    objects (modules or instances with `@hookimpl` methods) registered directly under their
    `name` attribute if it is a string, else the module or class name; the allow-list does not
    apply to them. Failures are collected in `PluginSet.errors`, never raised.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    plugins = PluginSet(pm)
    allowed = parse_names(allow) if allow is not None else parse_names(env.get(ALLOW_ENV))
    blocked = [*(parse_names(block) or []), *(parse_names(env.get(BLOCK_ENV)) or [])]
    for name in blocked:
        pm.set_blocked(name)

    for ep in _entry_points():
        info = PluginInfo(ep.name, *_dist(ep))
        if ep.name in plugins.plugins:
            first = plugins.plugins[ep.name].package
            plugins.errors[ep.name] = f"provided twice (by {first} and {info.package}); the second is ignored"
            continue
        plugins.plugins[ep.name] = info
        if pm.is_blocked(ep.name):
            info.status = "blocked"
        elif allowed is not None and ep.name not in allowed:
            info.status = "not allowed"
        else:
            try:
                obj = ep.load()
            except Exception as e:
                plugins.error(ep.name, f"cannot import {ep.value}: {_describe(e)}")
                continue
            _register(plugins, ep.name, obj)

    for obj in extra:
        name = _extra_name(obj)
        if name in plugins.plugins:
            plugins.error(name, "an extra plugin has the same name as an installed one")
            continue
        plugins.plugins[name] = PluginInfo(name)
        if pm.is_blocked(name):
            plugins.plugins[name].status = "blocked"
        else:
            _register(plugins, name, obj)

    installed = list(plugins.plugins)
    for name in dict.fromkeys(blocked):
        if name not in plugins.plugins:
            hint = did_you_mean(name, installed)
            plugins.warnings.append(f"the block-list names {name!r}, but no such plugin is installed{hint}")
    for name in allowed or ():
        if name not in plugins.plugins:
            hint = did_you_mean(name, installed)
            plugins.error(name, f"named in the allow-list but no plugin {name!r} is installed{hint}")
            plugins.missing.add(name)
    return plugins


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for a misspelt plugin name, as config keys get; '' if nothing is close."""
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


@contextmanager
def preserve_root_logging() -> Iterator[None]:
    """Undo changes plugins make to the root logger's level and handlers while inside.

    MCPServer's constructor calls `logging.basicConfig(level=INFO)`, which would make an embedding
    application print every INFO line of every library; logging setup is the application's call.
    """
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        yield
    finally:
        if root.level != level or root.handlers != handlers:
            for handler in root.handlers:
                if handler not in handlers:
                    root.removeHandler(handler)
            for handler in handlers:
                if handler not in root.handlers:
                    root.addHandler(handler)
            root.setLevel(level)


def collect_servers(plugins: PluginSet, config: Config) -> tuple[list[ServerSpec], dict[str, str]]:
    """Ask each plugin for its servers; a plugin whose hook raises is reported, the rest register.

    Returns the specs (each with `plugin` set to the plugin's name) and plugin name -> error.
    A `ConfigError` from a plugin's settings is reported like any other error.
    """
    pm = plugins.pm
    specs: list[ServerSpec] = []
    errors: dict[str, str] = {}
    taken: dict[str, str] = {}
    registered = [(name, plugin) for name, plugin in pm.list_name_plugin() if plugin is not None]
    for name, plugin in registered:
        others = [p for _, p in registered if p is not plugin]
        mine: list[ServerSpec] = []

        def register(spec: ServerSpec, mine: list[ServerSpec] = mine, name: str = name) -> None:
            if not isinstance(spec, ServerSpec):
                raise TypeError(f"register() takes a ServerSpec, got {type(spec).__name__}")
            if spec.name in taken:
                raise ValueError(f"server name {spec.name!r} is already registered by {taken[spec.name]}")
            mine.append(dataclasses.replace(spec, plugin=name))
            taken[spec.name] = f"plugin {name!r}"

        try:
            pm.subset_hook_caller("register_servers", remove_plugins=others)(register=register, config=config)
        except ConfigError as e:
            errors[name] = str(e)
        except Exception as e:
            errors[name] = f"register_servers failed: {_describe(e)}"
        else:
            specs.extend(mine)
            if name in plugins.plugins:
                plugins.plugins[name].servers = [s.name for s in mine]
            continue
        for spec in mine:  # a plugin that fails contributes nothing, not half its servers
            taken.pop(spec.name, None)
    return specs, errors


def _register(plugins: PluginSet, name: str, obj: object) -> None:
    try:
        plugins.pm.register(obj, name=name)
    except Exception as e:
        plugins.error(name, f"not a valid plugin: {_describe(e)}")
        return
    try:
        plugins.pm.check_pending()
    except pluggy.PluginValidationError as e:
        plugins.pm.unregister(obj)
        plugins.error(name, f"not a valid plugin: {_describe(e)}")


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    return sorted(importlib.metadata.entry_points(group=hookspecs.PROJECT), key=lambda ep: ep.name)


def _dist(ep: importlib.metadata.EntryPoint) -> tuple[str, str]:
    dist = ep.dist
    if dist is None:
        return "-", "-"
    return dist.version or "-", dist.name or "-"


def _extra_name(obj: object) -> str:
    name = getattr(obj, "name", None)
    if isinstance(name, str) and name:
        return name
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    return type(obj).__name__


def _describe(e: BaseException) -> str:
    text = str(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
