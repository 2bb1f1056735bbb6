"""A plugin's long-running tools as MCP Tasks (`io.modelcontextprotocol/tasks`, SEP-2663).

`mcp-voice mcp NAME` serves the plugin's `MCPServer`s to other MCP clients; a tool marked
long-running (`dev.mcp-voice/long-running` in its `_meta`) is run as a task for a client that
declares the extension: `tools/call` answers at once with `resultType: "task"`, the tool runs in
the background, `tasks/get` reports its status (the tool's progress message as `statusMessage`)
and inlines the result, `tasks/cancel` stops it. Other clients and tools get plain calls.

fastmcp-tasks serves tasks for FastMCP servers only; this is the minimal server side for the
SDK's `MCPServer` (memory only: a task lives as long as this process, up to its TTL).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.abc
from mcp import MCPError
from mcp.server import MCPServer
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import Extension, MethodBinding
from mcp.server.mcpserver import Context
from mcp_types import (
    INVALID_PARAMS,
    CallToolRequestParams,
    CallToolResult,
    RequestParams,
    TaskStatus,
    TextContent,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ConfigDict, Field

from mcp_voice.tools.spec import META_LONG_RUNNING
from mcp_voice.tools.tasks import TASKS_EXTENSION

POLL_INTERVAL_MS = 500
TTL_MS = 3_600_000
"""A finished task's result is kept this long after it was created (then forgotten)."""


class _TaskIdParams(RequestParams):
    model_config = ConfigDict(populate_by_name=True)

    task_id: str = Field(alias="taskId")


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class _Task:
    task_id: str
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    created: float = field(default_factory=anyio.current_time)
    status: TaskStatus = "working"
    message: str | None = None
    result: CallToolResult | None = None
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)

    def wire(self, **extra: Any) -> dict[str, Any]:
        body = {
            "taskId": self.task_id,
            "status": self.status,
            "createdAt": self.created_at,
            "lastUpdatedAt": self.updated_at,
            "ttlMs": TTL_MS,
            "pollIntervalMs": POLL_INTERVAL_MS,
            **extra,
        }
        if self.message:
            body["statusMessage"] = self.message
        return body


class _TaskContext(Context):  # type: ignore[type-arg]
    """The tool's `ctx` in the background: its progress becomes the task's status message."""

    def __init__(self, server: MCPServer, task: _Task) -> None:
        super().__init__(mcp_server=server)
        self._task = task

    async def report_progress(
        self, progress: float, total: float | None = None, message: str | None = None
    ) -> None:
        amount = f"{progress:g}/{total:g}" if total else f"{progress:g}"
        self._task.message = f"{amount}: {message}" if message else amount
        self._task.updated_at = _now()


class ServedTasks(Extension):
    """The server half of the tasks extension, for one `MCPServer`'s long-running tools."""

    identifier = TASKS_EXTENSION

    def __init__(self, server: MCPServer, long_running: Sequence[str]) -> None:
        self._server = server
        self._long_running = frozenset(long_running)
        self._tasks: dict[str, _Task] = {}
        self._group: anyio.abc.TaskGroup | None = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Background tasks run in here (around the transport): leaving cancels them."""
        async with anyio.create_task_group() as self._group:
            try:
                yield
            finally:
                self._group.cancel_scope.cancel()

    def methods(self) -> Sequence[MethodBinding]:
        versions = frozenset(MODERN_PROTOCOL_VERSIONS)
        return [
            MethodBinding("tasks/get", _TaskIdParams, self._get, protocol_versions=versions),
            MethodBinding("tasks/cancel", _TaskIdParams, self._cancel, protocol_versions=versions),
        ]

    async def intercept_tool_call(
        self, params: CallToolRequestParams, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        if params.name not in self._long_running or self._group is None or not _declared(ctx):
            return await call_next(ctx)
        self._forget_expired()
        task = _Task(secrets.token_urlsafe(18))
        self._tasks[task.task_id] = task
        self._group.start_soon(self._run, task, params.name, dict(params.arguments or {}))
        return task.wire(resultType="task")

    async def _run(self, task: _Task, name: str, arguments: dict[str, Any]) -> None:
        with task.scope:
            try:
                outcome = await self._server.call_tool(
                    name, arguments, context=_TaskContext(self._server, task)
                )
            except Exception as exc:  # the tool's own failure is the task's
                outcome = CallToolResult(content=[TextContent(type="text", text=str(exc))], is_error=True)
            if isinstance(outcome, CallToolResult):
                task.result, task.status = outcome, "completed"
            else:  # a tool asking for input: a background task cannot ask
                text = "the tool asked for input, which a task cannot give"
                task.result = CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
                task.status = "completed"
            task.updated_at = _now()
        if task.scope.cancelled_caught:
            task.status, task.updated_at = "cancelled", _now()

    def _find(self, task_id: str) -> _Task:
        task = self._tasks.get(task_id)
        if task is None:
            raise MCPError(code=INVALID_PARAMS, message=f"Task {task_id} not found")
        return task

    async def _get(self, ctx: ServerRequestContext[Any, Any], params: _TaskIdParams) -> HandlerResult:
        task = self._find(params.task_id)
        if task.status == "completed" and task.result is not None:
            result = task.result.model_dump(by_alias=True, mode="json", exclude_none=True)
            return task.wire(result=result)
        return task.wire()

    async def _cancel(self, ctx: ServerRequestContext[Any, Any], params: _TaskIdParams) -> HandlerResult:
        task = self._find(params.task_id)
        if task.status == "working":
            task.scope.cancel()
            task.status, task.updated_at = "cancelled", _now()
        return {}

    def _forget_expired(self) -> None:
        now = anyio.current_time()
        for task_id, task in list(self._tasks.items()):
            if task.status != "working" and now - task.created > TTL_MS / 1000:
                del self._tasks[task_id]


def _declared(ctx: ServerRequestContext[Any, Any]) -> bool:
    """Whether this request's client declared the tasks extension (2026-07-28 only)."""
    capabilities = ctx.session.client_capabilities
    extensions = capabilities.extensions if capabilities else None
    return bool(extensions) and TASKS_EXTENSION in extensions  # type: ignore[operator]


def serve_tasks(server: MCPServer) -> ServedTasks | None:
    """Attach the tasks extension to `server` if it has long-running tools (None: it has none)."""
    names = [
        tool.name for tool in server._tool_manager.list_tools() if (tool.meta or {}).get(META_LONG_RUNNING)
    ]
    if not names:
        return None
    extension = ServedTasks(server, names)
    # MCPServer takes extensions at construction only; the plugin built this one already, so the
    # extension is applied the way the constructor applies it.
    server._apply_extension(extension)
    server._install_extension_interceptor()
    return extension
