"""The tool registry: every configured MCP server behind one set of Realtime function tools.

Servers are connected once, concurrently, and kept warm for every session; each tool is exposed
as `<server>__<tool>` with a Realtime-ready schema and a resolved `ToolPolicy`. `call()` never
raises for a tool problem: the model always gets an answer it can speak.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

import anyio
import anyio.abc
import mcp.types as types
from mcp import MCPError
from mcp_types import INVALID_PARAMS, METHOD_NOT_FOUND, REQUEST_TIMEOUT

from mcp_voice.tools.connection import ServerConnection, ServerUnavailable
from mcp_voice.tools.naming import assign_names
from mcp_voice.tools.policy import PolicyHook, resolve_policy
from mcp_voice.tools.results import error_result, tool_result
from mcp_voice.tools.schema import SchemaError, to_realtime_schema
from mcp_voice.tools.spec import (
    HostTool,
    ServerSpec,
    ToolEvent,
    ToolResult,
)
from mcp_voice.tools.tasks import CallHooks, TaskFailed, TaskInfo

logger = logging.getLogger(__name__)

_NAMES_IN_ERRORS = 20
"""An unknown-tool error lists this many valid names, enough for the model to correct itself."""
ProgressCallback = Callable[[float, float | None, str | None], Awaitable[None] | None]
TaskCallback = Callable[[TaskInfo], Awaitable[None] | None]
"""Told when the server answered a call with a task (its id, TTL, poll interval)."""
AskCallback = Callable[[types.ElicitRequestParams], Awaitable[types.ElicitResult]]
"""Puts a server's question to the user (elicitation) and returns the answer."""


def parse_arguments(arguments: Mapping[str, Any] | str | None) -> dict[str, Any]:
    """The call's arguments as a dict; raises ValueError with a reason the model can act on."""
    if arguments is None:
        return {}
    if isinstance(arguments, str):
        if not arguments.strip():
            return {}
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError as exc:
            raise ValueError(f"the arguments are not valid JSON ({exc.msg} at position {exc.pos})") from None
    if not isinstance(arguments, Mapping):
        raise ValueError(f"the arguments must be a JSON object, not {type(arguments).__name__}")
    return dict(arguments)


class ToolRegistry:
    """All servers' tools, callable by exposed name. Use as `async with ToolRegistry(specs) as r:`."""

    def __init__(
        self,
        specs: Sequence[ServerSpec],
        *,
        policy_hook: PolicyHook | None = None,
        on_event: Callable[[ToolEvent], None] | None = None,
        startup_wait_s: float | None = None,
    ) -> None:
        self.startup_wait_s = startup_wait_s
        """How long `async with` waits for each server (None: until it is up or has failed). A
        server slower than that goes on connecting in the background; its tools are added, and
        listeners told, when it is up (serve uses this so one hanging server delays nothing)."""
        self._policy_hook = policy_hook
        self._on_event = on_event
        self._event_listeners: list[Callable[[ToolEvent], None]] = []
        self._connections: dict[str, ServerConnection] = {}
        self._finished: dict[str, anyio.Event] = {}
        for spec in specs:
            self._check_new(spec)
            self._connections[spec.name] = self._connection(spec)
        self._tools: dict[str, HostTool] = {}
        self._output_schemas: dict[str, Mapping[str, Any] | None] = {}
        """Exposed name -> the tool's declared output schema; it tells a wrapped result apart."""
        self._listeners: list[Callable[[], None]] = []
        self._task_group: anyio.abc.TaskGroup | None = None
        self._started = False
        self._pending: set[str] = set()

    # -- lifecycle ----------------------------------------------------------------------------------

    async def __aenter__(self) -> ToolRegistry:
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        try:
            async with anyio.create_task_group() as starting:
                for connection in self._connections.values():
                    starting.start_soon(self._start, connection, self.startup_wait_s)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        self._rebuild()
        self._started = True
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._started = False
        for connection in self._connections.values():
            connection.close()
        if self._task_group is not None:
            task_group, self._task_group = self._task_group, None
            await task_group.__aexit__(exc_type, exc, tb)

    def _check_new(self, spec: ServerSpec) -> None:
        if not spec.name:
            raise ValueError("a server needs a non-empty name")
        if spec.name in self._connections:
            raise ValueError(f"a server named {spec.name!r} is already registered")

    def _connection(self, spec: ServerSpec) -> ServerConnection:
        return ServerConnection(spec, on_tools=self._tools_listed, on_event=self._emit)

    async def _start(self, connection: ServerConnection, wait_s: float | None = None) -> None:
        """Start a connection's supervisor; wait for its first attempt (at most `wait_s`)."""
        assert self._task_group is not None, "the registry is not running (use `async with`)"
        finished = self._finished[connection.name] = anyio.Event()
        first_attempt = anyio.Event()
        self._pending.add(connection.name)

        async def supervise() -> None:
            try:
                await connection.run(
                    task_status=_Started(first_attempt, lambda: self._first_attempt(connection))
                )
            finally:
                finished.set()
                first_attempt.set()

        self._task_group.start_soon(supervise)
        with anyio.move_on_after(math.inf if wait_s is None else wait_s):
            await first_attempt.wait()

    def _first_attempt(self, connection: ServerConnection) -> None:
        """A server's first connection attempt is over (maybe long after the registry started)."""
        self._pending.discard(connection.name)
        if not self._started:
            return
        if connection.start_failed:
            logger.warning("MCP server %r failed to start: %s", connection.name, connection.error)
        else:
            logger.warning("MCP server %r is up (it started late); its tools are added", connection.name)
            self._rebuild(changed_server=connection.name)

    # -- runtime changes ------------------------------------------------------------------------------

    async def add_server(self, spec: ServerSpec) -> list[HostTool]:
        """Connect one more server; its tools. Raises ServerUnavailable if it cannot be reached."""
        self._check_new(spec)
        connection = self._connection(spec)
        self._connections[spec.name] = connection
        await self._start(connection)
        if connection.start_failed:
            del self._connections[spec.name]
            self._finished.pop(spec.name, None)
            raise ServerUnavailable(f"could not connect to MCP server {spec.name!r}: {connection.error}")
        self._rebuild(changed_server=spec.name)
        return self.tools([spec.name])

    async def remove_server(self, name: str) -> None:
        """Disconnect a server and drop its tools (a no-op for an unknown name)."""
        connection = self._connections.pop(name, None)
        if connection is None:
            return
        connection.close()
        finished = self._finished.pop(name, None)
        if finished is not None:
            await finished.wait()
        self._rebuild(changed_server=name)

    def add_listener(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` whenever the set of tools changes; returns a function that removes it."""
        self._listeners.append(callback)

        def remove() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return remove

    def add_event_listener(self, callback: Callable[[ToolEvent], None]) -> Callable[[], None]:
        """Also tell `callback` every `ToolEvent` (metrics, logs); returns a function that removes it."""
        self._event_listeners.append(callback)

        def remove() -> None:
            if callback in self._event_listeners:
                self._event_listeners.remove(callback)

        return remove

    # -- the tool set ---------------------------------------------------------------------------------

    @property
    def servers(self) -> Mapping[str, ServerSpec]:
        return {name: connection.spec for name, connection in self._connections.items()}

    @property
    def errors(self) -> Mapping[str, str]:
        """Servers that failed to start, with the reason."""
        return {
            name: connection.error
            for name, connection in self._connections.items()
            if connection.start_failed and connection.error is not None
        }

    @property
    def pending(self) -> list[str]:
        """Servers still making their first connection attempt (in the background)."""
        return sorted(self._pending)

    def tools(self, servers: Iterable[str] | None = None) -> list[HostTool]:
        """Tools in a stable order: by server (registration order), then as the server lists them."""
        wanted = None if servers is None else set(servers)
        return [tool for tool in self._tools.values() if wanted is None or tool.server in wanted]

    def get(self, name: str) -> HostTool | None:
        return self._tools.get(name)

    def function_tools(self, servers: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """The Realtime `session.tools` entries."""
        return [tool.function_tool() for tool in self.tools(servers)]

    def _tools_listed(self, connection: ServerConnection) -> None:
        if self._started:
            self._rebuild(changed_server=connection.name)

    def _rebuild(self, changed_server: str | None = None) -> None:
        listed = [(c.spec, tool) for c in self._connections.values() for tool in c.tools]
        names = assign_names((spec.name, tool.name) for spec, tool in listed)
        tools: dict[str, HostTool] = {}
        schemas: dict[str, Mapping[str, Any] | None] = {}
        for spec, tool in listed:
            try:
                host_tool = self._host_tool(names[spec.name, tool.name], spec, tool)
            except SchemaError as exc:
                logger.warning("skipping tool %s of server %s: %s", tool.name, spec.name, exc)
                continue
            tools[host_tool.name] = host_tool
            schemas[host_tool.name] = tool.output_schema
        changed = tools != self._tools
        self._tools = tools
        self._output_schemas = schemas
        if changed and self._started and changed_server is not None:
            names_now = [t.name for t in tools.values() if t.server == changed_server]
            self._emit(ToolEvent("tools_changed", server=changed_server, detail={"tools": names_now}))
            for listener in list(self._listeners):
                try:
                    listener()
                except Exception:
                    logger.exception("tools listener %r failed", listener)

    def _host_tool(self, name: str, spec: ServerSpec, tool: types.Tool) -> HostTool:
        annotations = tool.annotations
        return HostTool(
            name=name,
            server=spec.name,
            tool_name=tool.name,
            # Docstring-derived descriptions keep their source indentation; the model should
            # not pay for (or read) it.
            description=inspect.cleandoc(tool.description or tool.title or tool.name),
            parameters=to_realtime_schema(tool.input_schema),
            policy=resolve_policy(spec, tool, self._policy_hook),
            read_only=bool(annotations and annotations.read_only_hint),
            destructive=bool(annotations and annotations.destructive_hint),
        )

    # -- calls --------------------------------------------------------------------------------------

    def _emit(self, event: ToolEvent) -> None:
        for observer in (self._on_event, *self._event_listeners):
            if observer is None:
                continue
            try:
                observer(event)
            except Exception:
                logger.exception("on_event observer failed on %s", event.kind)

    async def call(
        self,
        name: str,
        arguments: Mapping[str, Any] | str | None,
        *,
        call_id: str | None = None,
        progress: ProgressCallback | None = None,
        timeout_s: float | None = None,
        meta: Mapping[str, Any] | None = None,
        on_task: TaskCallback | None = None,
        hooks: CallHooks | None = None,
        ask: AskCallback | None = None,
        ask_timeout_s: float = 120.0,
    ) -> ToolResult:
        """Run one tool; every tool problem comes back as an error `ToolResult`, never an exception.

        Cancelling the caller cancels the MCP request (or sends `tasks/cancel`) and re-raises the
        cancellation. `meta` goes to the server as the request's `_meta` (the session's call
        context, for instance). `on_task` hears at once when the server runs the call as a task;
        the task's status messages then come as `progress`. `hooks` (optional) is the call's
        task record: after the call, `hooks.task` names the task and `hooks.gets` counts polls.
        `ask` puts a question the server asks during the call (elicitation, form or URL mode) to
        the user and returns the answer; without it, or after `ask_timeout_s`, it is declined.
        """
        tool = self._tools.get(name)
        if tool is None:
            known = ", ".join(sorted(self._tools)[:_NAMES_IN_ERRORS]) or "none"
            message = f"there is no tool named {name!r} (available: {known})"
            return self._failed(name, None, call_id, error_result(name, "unknown_tool", message))
        try:
            args = parse_arguments(arguments)
        except ValueError as exc:
            return self._failed(name, tool, call_id, error_result(name, "bad_arguments", str(exc)))
        connection = self._connections.get(tool.server)
        if connection is None:
            failed = error_result(name, "server_unavailable", f"server {tool.server!r} was removed")
            return self._failed(name, tool, call_id, failed)
        timeout = timeout_s if timeout_s is not None else tool.policy.timeout_s

        async def on_progress(done: float, total: float | None, message: str | None) -> None:
            detail = {"progress": done, "total": total, "message": message}
            self._emit(ToolEvent("progress", server=tool.server, tool=name, call_id=call_id, detail=detail))
            if progress is None:
                return
            try:
                pending = progress(done, total, message)
                if inspect.isawaitable(pending):
                    await pending
            except Exception:
                logger.exception("progress callback failed for %s", name)

        async def on_created(info: TaskInfo) -> None:
            detail = {
                "task_id": info.task_id,
                "ttl_ms": info.ttl_ms,
                "poll_interval_ms": info.poll_interval_ms,
            }
            self._emit(ToolEvent("task", server=tool.server, tool=name, call_id=call_id, detail=detail))
            if on_task is None:
                return
            try:
                pending = on_task(info)
                if inspect.isawaitable(pending):
                    await pending
            except Exception:
                logger.exception("task callback failed for %s", name)

        async def on_ask(params: types.ElicitRequestParams) -> types.ElicitResult:
            self._emit(
                ToolEvent(
                    "asked", server=tool.server, tool=name, call_id=call_id, detail={"mode": params.mode}
                )
            )
            if ask is None:
                return types.ElicitResult(action="decline")
            with anyio.move_on_after(ask_timeout_s):
                return await ask(params)
            return types.ElicitResult(action="decline")  # nobody answered in time

        hooks = hooks or CallHooks()
        hooks.created, hooks.progress, hooks.ask = on_created, on_progress, on_ask
        self._emit(
            ToolEvent(
                "started",
                server=tool.server,
                tool=name,
                call_id=call_id,
                detail={"arguments": args, "meta": dict(meta or {})},  # meta: whose call (observers' logs)
            )
        )
        try:
            outcome = await connection.call(
                tool.tool_name,
                args,
                timeout_s=timeout,
                progress=on_progress,
                retry_on_disconnect=tool.read_only,  # running a read-only tool twice is harmless
                meta=meta,
                hooks=hooks,
            )
        except anyio.get_cancelled_exc_class():
            self._emit(ToolEvent("cancelled", server=tool.server, tool=name, call_id=call_id))
            raise
        except TimeoutError:
            if hooks.task is not None:
                result = error_result(name, "timeout", "the task did not finish within its time to live")
            else:
                result = error_result(name, "timeout", f"the tool did not finish within {timeout:g} s")
        except TaskFailed as exc:
            result = error_result(name, "tool_error", str(exc))
        except ServerUnavailable as exc:
            result = error_result(name, "server_unavailable", f"server {tool.server!r} is unavailable: {exc}")
        except MCPError as exc:
            if hooks.task is not None:  # e.g. a restarted server that no longer knows the task
                result = error_result(name, "tool_error", f"the task was lost: {exc.message}")
            else:
                result = error_result(name, *_classify(exc, timeout))
        except Exception as exc:  # e.g. a response that fails validation: still an answer for the model
            logger.exception("call to %s failed", name)
            result = error_result(name, "tool_error", f"the call failed: {type(exc).__name__}: {exc}")
        else:
            result = tool_result(name, outcome, output_schema=self._output_schemas.get(name))
        if result.is_error:
            return self._failed(name, tool, call_id, result)
        detail = {"images": len(result.images), "bytes": len(result.output.encode())}
        self._emit(ToolEvent("finished", server=tool.server, tool=name, call_id=call_id, detail=detail))
        return result

    async def resume(
        self,
        server: str,
        task_id: str,
        *,
        progress: ProgressCallback | None = None,
        poll_interval_ms: int | None = None,
        wait_s: float = 5.0,
    ) -> ToolResult:
        """Follow a task by its id to its end (one this process lost, or another started).

        Like `call`, never raises for a tool problem: an unknown or expired task, or a server
        that is not there, comes back as an error `ToolResult`. Cancelling sends `tasks/cancel`.
        """
        label = f"{server}__task"
        connection = self._connections.get(server)
        if connection is None:
            return error_result(label, "server_unavailable", f"there is no server named {server!r}")

        async def on_progress(done: float, total: float | None, message: str | None) -> None:
            if progress is not None:
                pending = progress(done, total, message)
                if inspect.isawaitable(pending):
                    await pending

        hooks = CallHooks(progress=on_progress, task=TaskInfo(task_id, "working", None, poll_interval_ms))
        try:
            outcome = await connection.resume_task(hooks, wait_s=wait_s)
        except ServerUnavailable as exc:
            return error_result(label, "server_unavailable", f"server {server!r} is unavailable: {exc}")
        except (MCPError, TaskFailed) as exc:
            message = exc.message if isinstance(exc, MCPError) else str(exc)
            return error_result(label, "tool_error", message)
        return tool_result(label, outcome)

    def _failed(
        self, name: str, tool: HostTool | None, call_id: str | None, result: ToolResult
    ) -> ToolResult:
        server = tool.server if tool is not None else name.split("__", 1)[0]
        error = json.loads(result.output)["error"]
        self._emit(ToolEvent("failed", server=server, tool=name, call_id=call_id, detail=error))
        return result


def _classify(exc: MCPError, timeout: float) -> tuple[Any, str]:
    """An MCP error response as (kind, message)."""
    if exc.code == REQUEST_TIMEOUT:
        return "timeout", f"the tool did not finish within {timeout:g} s"
    if exc.code == INVALID_PARAMS:
        return "bad_arguments", exc.message
    if exc.code == METHOD_NOT_FOUND:
        return "unknown_tool", exc.message
    return "tool_error", exc.message


class _Started:
    """The `task_status` a connection reports its first attempt to (it need not be awaited)."""

    def __init__(self, event: anyio.Event, then: Callable[[], None]) -> None:
        self._event = event
        self._then = then

    def started(self, value: object = None) -> None:
        self._event.set()
        self._then()
