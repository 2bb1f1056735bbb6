"""The session's tool set: what the upstream model gets, and what the client is shown.

The model gets the host's tools (every registry tool unless `register_plugin_tools=False`, plus
the servers a client names with `mcp_server` / GA `mcp` entries) and the client's own function
tools. Entries naming a server the host runs are expanded into its function tools and never go
upstream; such an entry's `tools` / `allowed_tools` / `require_approval` narrow that server's
tools for the session, auto-registered ones included. An entry naming a server the host runs maps
to it by name, whatever its URL. An `mcp_server` with an unknown http(s) URL is connected for
this session only, if `ClientServerPolicy` allows the URL, in the background (a slow or dead
server never holds the session up; failures all read "could not connect", reported no sooner than
the connect timeout, so they reveal nothing about the port). A GA `mcp` entry the host does not
serve is passed through for the upstream to run. The client is always shown its own tools list as
it sent it (host tools stay invisible).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import anyio

from mcp_voice.tools.client_urls import ClientServerPolicy, UrlRefused
from mcp_voice.tools.registry import ToolRegistry
from mcp_voice.tools.spec import HostTool, ServerSpec

logger = logging.getLogger(__name__)

Event = dict[str, Any]
SESSION_PLUGIN_PREFIX = "mcp-voice-session:"
"""`ServerSpec.plugin` of servers a session connected for its client (never auto-registered)."""


@dataclass(frozen=True)
class _Entry:
    """One client entry naming an MCP server: which tools, and whether they need approval."""

    label: str
    server: str
    allowed: frozenset[str] | None
    read_only: bool | None = None
    approval: frozenset[str] | bool = False


class ToolProblem(Exception):
    """A client tools entry the host cannot honour (answered with an `error` event)."""


def _names(value: Any, param: str) -> frozenset[str] | None:
    """A client's list of tool names (strings, or objects with a `name`); None when not given."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise ToolProblem(f"'{param}' must be an array of tool names, not {type(value).__name__}")
    names = [entry.get("name", "") if isinstance(entry, dict) else entry for entry in value]
    if not all(isinstance(name, str) for name in names):
        raise ToolProblem(f"'{param}' must be an array of tool names")
    return frozenset(names)


def _approval(value: Any) -> frozenset[str] | bool:
    """GA `require_approval`: only the stricter settings are honoured ("always", an `always` filter)."""
    if value == "always":
        return True
    if isinstance(value, dict) and isinstance(value.get("always"), dict):
        names = _names(value["always"].get("tool_names") or [], "require_approval.always.tool_names")
        return names or frozenset()
    return False


class SessionTools:
    """Per-session tool bookkeeping over the shared registry."""

    def __init__(
        self,
        registry: ToolRegistry,
        *,
        auto: bool,
        allow_urls: bool = True,
        url_policy: ClientServerPolicy | None = None,
        spawn: Callable[[Callable[[], Awaitable[None]]], None] | None = None,
        report: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        """`spawn` runs a connection in the session's background; `report` tells the client of a
        failure found there. Without them, connections are made inline (time-limited)."""
        self._registry = registry
        self._auto = auto
        self._allow_urls = allow_urls
        self._policy = url_policy or ClientServerPolicy()
        self._spawn = spawn
        self._report = report
        self._tag = secrets.token_hex(4)
        self._client_tools: list[Event] | None = None
        self._entries: list[_Entry] = []
        self._functions: list[Event] = []
        self._passthrough: list[Event] = []
        self._owned: dict[str, str] = {}
        """Servers this session connected: client label -> registry name."""
        self._labels: dict[str, str] = {}
        self._host: dict[str, HostTool] = {}
        self._session_tools: dict[str, HostTool] = {}
        """Tools the session answers itself (not MCP), by name."""
        self.refresh()

    # -- views ----------------------------------------------------------------------------------

    def lookup(self, name: str) -> HostTool | None:
        """The host tool the model may call by `name` in this session."""
        return self._host.get(name) or self._session_tools.get(name)

    def show(self, tool: HostTool, shown: bool) -> None:
        """Add (or remove) a tool the session itself answers, e.g. the question answer tool."""
        if shown:
            self._session_tools[tool.name] = tool
        else:
            self._session_tools.pop(tool.name, None)

    def answers_itself(self, name: str) -> bool:
        """Whether `name` is one of the session's own tools (steering, answering a question)."""
        return name in self._session_tools

    @property
    def host_tools(self) -> list[HostTool]:
        """The MCP tools the model has in this session (not the session's own)."""
        return list(self._host.values())

    def label(self, tool: HostTool) -> str:
        """The `server_label` the client knows the tool's server by."""
        return self._labels.get(tool.server, tool.server)

    def upstream_tools(self) -> list[Event]:
        host = [tool.function_tool() for tool in (*self._host.values(), *self._session_tools.values())]
        return host + self._functions + self._passthrough

    def client_view(self) -> list[Event]:
        """The client's tools as it sent them; seed `mcp_server` entries in GA `mcp` form so they validate."""
        shown: list[Event] = []
        for entry in self._client_tools or ():
            if entry.get("type") == "mcp_server":
                ga: Event = {"type": "mcp", "server_label": entry.get("name") or ""}
                if entry.get("server_url"):
                    ga["server_url"] = entry["server_url"]
                with contextlib.suppress(ToolProblem):  # a bad list was refused by `apply`
                    if entry.get("tools") is not None:
                        ga["allowed_tools"] = sorted(_names(entry["tools"], "tools") or ())
                shown.append(ga)
            else:
                shown.append(entry)
        return shown

    def refresh(self) -> bool:
        """Recompute the host tools (after a registry change); True if the model's tools changed."""
        before = self._host
        host: dict[str, HostTool] = {}
        if self._auto:
            # A server the client names is narrowed by its entry: none of its tools come in unasked.
            named = {entry.server for entry in self._entries}
            for tool in self._registry.tools(s for s in self._shared_servers() if s not in named):
                host[tool.name] = tool
        for entry in self._entries:
            for tool in self._registry.tools([entry.server]):
                if entry.allowed is not None and tool.tool_name not in entry.allowed:
                    continue
                if entry.read_only and not tool.read_only:
                    continue
                if entry.approval is True or (entry.approval and tool.tool_name in entry.approval):
                    tool = replace(tool, policy=replace(tool.policy, approval=True))
                host[tool.name] = tool
        for function in self._functions:  # the client's own tool of the same name wins
            host.pop(function.get("name", ""), None)
        self._host = host
        return list(before) != list(host) or before != host

    def _shared_servers(self) -> list[str]:
        return [name for name in self._registry.servers if self._shared(name)]

    # -- client updates -------------------------------------------------------------------------

    async def apply(self, tools: list[Any]) -> list[str]:
        """Take the client's new `session.tools`; returns problems to report (entries dropped)."""
        problems: list[str] = []
        entries: list[_Entry] = []
        functions: list[Event] = []
        passthrough: list[Event] = []
        wanted_owned: set[str] = set()
        for entry in tools:
            if not isinstance(entry, dict):
                problems.append(f"a tools entry must be an object, not {type(entry).__name__}")
                continue
            kind = entry.get("type")
            try:
                if kind == "mcp_server":
                    entries.append(await self._mcp_server(entry, wanted_owned))
                elif kind == "mcp" and self._serves(entry.get("server_label")):
                    entries.append(self._mcp(entry))
                elif kind == "mcp":
                    passthrough.append(entry)
                else:
                    functions.append(entry)
            except ToolProblem as exc:
                problems.append(str(exc))
        for label in set(self._owned) - wanted_owned:
            await self._disconnect(label)
        self._client_tools = [entry for entry in tools if isinstance(entry, dict)]
        self._entries, self._functions, self._passthrough = entries, functions, passthrough
        self.refresh()
        return problems

    def _serves(self, label: Any) -> bool:
        return isinstance(label, str) and (label in self._owned or self._shared(label))

    def _shared(self, name: str) -> bool:
        """A registry server every session may use (not one another session connected)."""
        spec = self._registry.servers.get(name)
        return spec is not None and not (spec.plugin or "").startswith(SESSION_PLUGIN_PREFIX)

    def _mcp(self, entry: Event) -> _Entry:
        label: str = entry["server_label"]  # a str: `_serves` checked it
        allowed = entry.get("allowed_tools")
        read_only = None
        if isinstance(allowed, dict):
            read_only = allowed.get("read_only")
            allowed = allowed.get("tool_names")
        server = self._owned.get(label, label)
        names = _names(allowed, "allowed_tools")
        return _Entry(label, server, names, read_only, _approval(entry.get("require_approval")))

    async def _mcp_server(self, entry: Event, wanted_owned: set[str]) -> _Entry:
        label = entry.get("name")
        if not isinstance(label, str) or not label:
            raise ToolProblem("an mcp_server entry needs a 'name'")
        allowed = _names(entry.get("tools"), "tools")
        if label in self._owned:
            wanted_owned.add(label)
            return _Entry(label, self._owned[label], allowed)
        if self._shared(label):
            return _Entry(label, label, allowed)
        url = entry.get("server_url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ToolProblem(f"mcp_server {label!r}: unknown server, and {url!r} is not an http(s) MCP URL")
        if not self._allow_urls:
            raise ToolProblem(
                f"mcp_server {label!r}: this host does not connect to servers clients name by URL "
                "(allow_client_servers is off); use one of its own servers"
            )
        try:
            self._policy.check(url)
        except UrlRefused as exc:
            raise ToolProblem(f"mcp_server {label!r}: not allowed: {exc}") from None
        name = label if label not in self._registry.servers else f"{label}_{self._tag}"
        headers = entry.get("headers")
        if not isinstance(headers, dict) or not self._policy.passes_headers(url):
            headers = {}
        spec = ServerSpec(name=name, target=url, headers=headers, plugin=SESSION_PLUGIN_PREFIX + self._tag)
        self._owned[label] = name
        self._labels[name] = label
        wanted_owned.add(label)
        if self._spawn is not None:

            async def connect() -> None:
                await self._connect(label, spec)

            self._spawn(connect)
        elif not await self._connect(label, spec, report=False):
            raise ToolProblem(f"mcp_server {label!r}: could not connect")
        return _Entry(label, name, allowed)

    async def _connect(self, label: str, spec: ServerSpec, *, report: bool = True) -> bool:
        """Connect a client-named server within the timeout; on failure say only "could not connect"."""
        timeout = self._policy.connect_timeout_s
        started = anyio.current_time()
        try:
            with anyio.fail_after(timeout):
                await self._policy.check_resolved(str(spec.target))
                await self._registry.add_server(spec)
        except Exception as exc:  # the reason stays in this host's log, never reaches the client
            logger.info("client-named MCP server %r not connected: %s", label, exc or type(exc).__name__)
            with anyio.CancelScope(shield=True):
                await self._registry.remove_server(spec.name)
            if self._owned.get(label) == spec.name:
                del self._owned[label]
                self._labels.pop(spec.name, None)
            if report and self._report is not None:
                # Every failure is told at the same moment: no timing oracle for open/closed ports.
                await anyio.sleep(max(0.0, started + timeout - anyio.current_time()))
                await self._report(f"mcp_server {label!r}: could not connect")
            return False
        if self._owned.get(label) != spec.name:  # the client dropped the entry meanwhile
            await self._registry.remove_server(spec.name)
        return True

    async def _disconnect(self, label: str) -> None:
        name = self._owned.pop(label)
        self._labels.pop(name, None)
        try:
            await self._registry.remove_server(name)
        except Exception:
            logger.exception("could not remove session server %s", name)

    async def aclose(self) -> None:
        """Disconnect the servers this session connected."""
        for label in list(self._owned):
            await self._disconnect(label)
