"""MCP Tasks, client side: the `io.modelcontextprotocol/tasks` extension (2026-07-28, SEP-2663).

The mcp SDK has task types for the 2025-11-25 form only and no tasks runtime, so this module is
that runtime, written once over the SDK's extension API: `TasksExtension` advertises the
extension and claims the `resultType: "task"` answer to `tools/call`; its resolver follows the
task with `tasks/get` (at most one per `pollIntervalMs`, within `ttlMs`) and returns the task's
final result as an ordinary `CallToolResult`, so every caller of `call_tool` gets tasks for free.

A call learns it became a task through the `CallHooks` of the running call (a context variable
the connection sets around `call_tool`): `created` as soon as the server answers, `progress` on
each new status message. Cancelling the caller sends `tasks/cancel`. `follow_task` also resumes
a task by id on any session (after a reconnect, or in another process).
"""

from __future__ import annotations

import contextvars
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import mcp_types
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.client.session import ClientSession
from mcp_types import CallToolResult, RequestParams, Result, TaskStatus, TextContent
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ConfigDict, Field

logger = logging.getLogger(__name__)

TASKS_EXTENSION = "io.modelcontextprotocol/tasks"
"""The extension identifier, advertised in the client's capabilities."""
MIN_POLL_S = 0.05
"""Floor under a server's `pollIntervalMs` (a server saying 0 must not make us spin)."""
DEFAULT_POLL_S = 1.0
"""Poll interval when the server names none."""
REQUEST_TIMEOUT_S = 30.0
"""One `tasks/get` or `tasks/cancel` that has not answered by then has failed."""
CANCEL_WAIT_S = 2.0
"""How long a cancelled caller waits for the server to acknowledge `tasks/cancel`."""
TERMINAL: frozenset[str] = frozenset({"completed", "failed", "cancelled"})


class _TaskFields(Result):
    """The flat task fields of SEP-2663 results (camelCase on the wire)."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    task_id: str = Field(alias="taskId")
    status: TaskStatus
    status_message: str | None = Field(default=None, alias="statusMessage")
    ttl_ms: int | None = Field(default=None, alias="ttlMs")
    poll_interval_ms: int | None = Field(default=None, alias="pollIntervalMs")
    created_at: str | None = Field(default=None, alias="createdAt")
    last_updated_at: str | None = Field(default=None, alias="lastUpdatedAt")


class CreatedTask(_TaskFields):
    """A `tools/call` the server chose to run as a task (`resultType: "task"`)."""

    result_type: Literal["task"] = Field(alias="resultType")


class TaskState(_TaskFields):
    """A `tasks/get` answer: the task, with its result, error or input requests inlined."""

    result_type: Literal["complete"] | None = Field(default=None, alias="resultType")
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    input_requests: dict[str, Any] | None = Field(default=None, alias="inputRequests")


class TaskIdParams(RequestParams):
    model_config = ConfigDict(populate_by_name=True)

    task_id: str = Field(serialization_alias="taskId")


class GetTaskRequest(mcp_types.Request[TaskIdParams, Literal["tasks/get"]]):
    method: Literal["tasks/get"] = "tasks/get"
    params: TaskIdParams


class UpdateTaskParams(TaskIdParams):
    input_responses: dict[str, Any] = Field(serialization_alias="inputResponses")


class UpdateTaskRequest(mcp_types.Request[UpdateTaskParams, Literal["tasks/update"]]):
    method: Literal["tasks/update"] = "tasks/update"
    params: UpdateTaskParams


class CancelTaskRequest(mcp_types.Request[TaskIdParams, Literal["tasks/cancel"]]):
    method: Literal["tasks/cancel"] = "tasks/cancel"
    params: TaskIdParams


@dataclass(frozen=True)
class TaskInfo:
    """What a caller learns when its call becomes a task."""

    task_id: str
    status: str
    ttl_ms: int | None = None
    poll_interval_ms: int | None = None


@dataclass
class CallHooks:
    """One running call's hooks: its task (filled by the resolver) and its questions (`ask`)."""

    created: Callable[[TaskInfo], Awaitable[None]] | None = None
    progress: Callable[[float, float | None, str | None], Awaitable[None]] | None = None
    ask: Callable[[mcp_types.ElicitRequestParams], Awaitable[mcp_types.ElicitResult]] | None = None
    """Puts a question the server asks during the call (elicitation) to the user; None: declined."""
    task: TaskInfo | None = None
    """Set once the server answered with a task: its id is what a resume needs."""
    gets: int = 0
    """`tasks/get` requests sent for this call."""
    updates: int = 0
    scope: anyio.CancelScope | None = field(default=None, repr=False)
    """The call's timeout scope: a task is bound by its TTL instead."""
    detached: bool = False
    """The connection was lost under the task: it goes on at the server, to be resumed."""

    async def became_task(self, info: TaskInfo) -> None:
        self.task = info
        if self.scope is not None:
            ttl_s = info.ttl_ms / 1000 if info.ttl_ms else math.inf
            self.scope.deadline = anyio.current_time() + ttl_s
        if self.created is not None:
            await self.created(info)

    async def status(self, message: str) -> None:
        self.updates += 1
        if self.progress is not None:
            await self.progress(float(self.updates), None, message)


current_hooks: contextvars.ContextVar[CallHooks | None] = contextvars.ContextVar(
    "mcp_voice_task_hooks", default=None
)
"""The running call's hooks; the connection sets it around `call_tool`."""


class TaskFailed(Exception):
    """A task's result could not be had (not found, expired, asked for input we cannot give)."""


class TasksExtension(ClientExtension):
    """Advertise `io.modelcontextprotocol/tasks` and follow the tasks servers answer with."""

    identifier = TASKS_EXTENSION

    def claims(self) -> Sequence[ResultClaim[Any]]:
        return (
            ResultClaim(
                result_type="task",
                model=CreatedTask,
                resolve=self._resolve,
                protocol_versions=frozenset(MODERN_PROTOCOL_VERSIONS),
            ),
        )

    async def _resolve(self, created: CreatedTask, ctx: ClaimContext) -> CallToolResult:
        hooks = current_hooks.get() or CallHooks()
        info = TaskInfo(created.task_id, created.status, created.ttl_ms, created.poll_interval_ms)
        logger.debug("tools/call %s became task %s", ctx.tool_name, info.task_id)
        await hooks.became_task(info)
        return await follow_task(ctx.session, info, hooks)


def _poll_s(interval_ms: int | None) -> float:
    if interval_ms is None or interval_ms <= 0:
        return DEFAULT_POLL_S if interval_ms is None else MIN_POLL_S
    return max(interval_ms / 1000, MIN_POLL_S)


async def get_task(session: ClientSession, task_id: str) -> TaskState:
    """One `tasks/get`."""
    request = GetTaskRequest(params=TaskIdParams(task_id=task_id))
    return await session.send_request(request, TaskState, request_read_timeout_seconds=REQUEST_TIMEOUT_S)


async def cancel_task(session: ClientSession, task_id: str) -> None:
    """`tasks/cancel` (cooperative: the task's status says when it has stopped)."""
    request = CancelTaskRequest(params=TaskIdParams(task_id=task_id))
    await session.send_request(request, Result, request_read_timeout_seconds=REQUEST_TIMEOUT_S)


async def follow_task(
    session: ClientSession, info: TaskInfo, hooks: CallHooks | None = None
) -> CallToolResult:
    """Poll a task to its end and return its result; cancelling the caller cancels the task.

    The first `tasks/get` goes one poll interval after the task was created, and at most one
    per interval after that (the interval each answer names). A failed or cancelled task
    comes back as an error result saying so.
    """
    hooks = hooks or CallHooks()
    interval = _poll_s(info.poll_interval_ms)
    deadline = anyio.current_time() + info.ttl_ms / 1000 if info.ttl_ms else None
    last_message: str | None = None
    try:
        while True:
            await anyio.sleep(interval)
            if deadline is not None and anyio.current_time() > deadline:
                raise TaskFailed(f"task {info.task_id} outlived its TTL of {info.ttl_ms} ms")
            hooks.gets += 1
            state = await get_task(session, info.task_id)
            interval = _poll_s(state.poll_interval_ms or info.poll_interval_ms)
            if state.status_message and state.status_message != last_message:
                last_message = state.status_message
                if state.status not in TERMINAL:
                    await hooks.status(state.status_message)
            if state.status in TERMINAL:
                return _final(state)
            if state.status == "input_required":
                await _answer(session, info.task_id, state.input_requests or {}, hooks)
                interval = MIN_POLL_S  # the next leg starts at once: look again soon
    except anyio.get_cancelled_exc_class():
        if not hooks.detached:  # the caller left: the task ends too
            with anyio.CancelScope(shield=True), anyio.move_on_after(CANCEL_WAIT_S):
                await _cancel_quietly(session, info.task_id)
        raise


async def _answer(session: ClientSession, task_id: str, requests: dict[str, Any], hooks: CallHooks) -> None:
    """A task waiting for input: each question goes to `hooks.ask`; the answers go back by `tasks/update`."""
    responses: dict[str, Any] = {}
    for key, payload in requests.items():
        method = payload.get("method") if isinstance(payload, dict) else None
        if method != "elicitation/create" or hooks.ask is None:
            await _cancel_quietly(session, task_id)
            raise TaskFailed(f"the task asked for input ({method}) that this host cannot give")
        params = mcp_types.ElicitRequest.model_validate(payload).params
        answer = await hooks.ask(params)
        responses[key] = answer.model_dump(by_alias=True, mode="json", exclude_none=True)
    request = UpdateTaskRequest(params=UpdateTaskParams(task_id=task_id, input_responses=responses))
    await session.send_request(request, Result, request_read_timeout_seconds=REQUEST_TIMEOUT_S)


async def _cancel_quietly(session: ClientSession, task_id: str) -> None:
    try:
        await cancel_task(session, task_id)
    except Exception as exc:  # the server may be gone: the caller is leaving anyway
        logger.debug("tasks/cancel %s failed: %s", task_id, exc)


def _final(state: TaskState) -> CallToolResult:
    if state.status == "completed":
        return CallToolResult.model_validate(state.result or {"content": []})
    if state.status == "failed":
        message = (state.error or {}).get("message") or state.status_message or "the task failed"
        text = f"the task failed: {message}"
    else:
        text = "the task was cancelled by the server"
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
