"""One MCP server, kept connected: a supervised `mcp.Client` with the server's tool listing.

`mcp.Client` must be entered and exited in the same task, so each connection runs one supervisor
task (`run`) that owns the client for its whole life: it connects, lists tools, watches for the
transport closing, and reconnects with backoff when a stdio or HTTP server dies. Calls made from
any task borrow the current client; a call caught by a dying connection fails at once with
`ServerUnavailable` instead of hanging.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

import anyio
import anyio.abc
import anyio.lowlevel
import mcp.types as types
from mcp import Client, MCPError
from mcp.client.session import ClientRequestContext, IncomingMessage
from mcp.client.subscriptions import ListenNotSupportedError, SubscriptionLost
from mcp_types import CONNECTION_CLOSED, RequestParamsMeta
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from mcp_voice.tools.spec import ServerSpec, ToolEvent
from mcp_voice.tools.stdio_reader import linear_stdio_client
from mcp_voice.tools.tasks import CallHooks, TasksExtension, current_hooks, follow_task
from mcp_voice.tools.transport import WatchedTransport, http_transport

if TYPE_CHECKING:
    from mcp.shared.dispatcher import ProgressFnT

INITIAL_BACKOFF_S = 0.2
MAX_BACKOFF_S = 5.0
CONNECT_TIMEOUT_S = 30.0
"""A server that has not answered its handshake and tools/list by then counts as failed."""
RECONNECT_WAIT_S = 5.0
"""How long a call waits for a restarting server before giving up on it."""
_LIST_PAGE_CAP = 100

ProgressFn = Callable[[float, float | None, str | None], Awaitable[None]]


class ServerUnavailable(Exception):
    """The server is not connected (failed to start, crashed, or restarting)."""


def _has_sync_tools(server: object) -> bool:
    """Whether an in-process MCPServer has plain `def` tools (which block cancellation)."""
    manager = getattr(server, "_tool_manager", None)
    if manager is None:
        return False
    return any(not getattr(tool, "is_async", True) for tool in manager.list_tools())


def describe_error(exc: BaseException) -> str:
    """A one-line, human-readable reason from an exception (or the first leaf of a group)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, MCPError) and exc.code == CONNECTION_CLOSED:
        return "the server closed the connection (did it exit during start-up?)"
    if isinstance(exc, TimeoutError):
        return f"the server did not answer within {CONNECT_TIMEOUT_S:g} s"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class ServerConnection:
    """A supervised connection to one MCP server and its current tool listing."""

    def __init__(
        self,
        spec: ServerSpec,
        *,
        on_tools: Callable[[ServerConnection], None] = lambda _: None,
        on_event: Callable[[ToolEvent], None] = lambda _: None,
    ) -> None:
        self.spec = spec
        self.tools: list[types.Tool] = []
        """The server's tools after the allow-list, as last listed."""
        self.error: str | None = None
        """Why the server is not connected (None while it is)."""
        self.restarts = 0
        self.start_failed = False
        """True when the first connection failed; such a server is not retried."""
        self._on_tools = on_tools
        self._on_event = on_event
        self._client: Client | None = None
        self._lost: anyio.Event | None = None
        self._state = anyio.Event()
        self._gave_up = False
        self._tools_dirty = anyio.Event()
        self._limiter = anyio.CapacityLimiter(max(1, spec.max_concurrency))
        self._inflight: dict[anyio.CancelScope, CallHooks | None] = {}
        self._scope: anyio.CancelScope | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def connected(self) -> bool:
        return self._client is not None

    def close(self) -> None:
        """Stop the supervisor (its task leaves the client's context and ends)."""
        self._gave_up = True
        self._state_changed()
        if self._scope is not None:
            self._scope.cancel()

    # -- supervision ----------------------------------------------------------------------------

    def _client_for(self, lost: anyio.Event) -> Client:
        target = self.spec.target
        handler = self._on_message
        # Every connection offers the tasks extension (the server decides which calls become
        # tasks) and elicitation (questions go to the user); sampling is not offered, so the
        # SDK refuses a sampling request ("Sampling not supported").
        options: dict[str, Any] = {
            "message_handler": handler,
            "extensions": [TasksExtension()],
            "elicitation_callback": self._elicit,
        }
        if isinstance(target, str):
            transport: Any = http_transport(target, dict(self.spec.headers))
            return Client(WatchedTransport(transport, lost), **options)
        if self.spec.kind == "stdio":
            # Our reader: the SDK's rejoins a long line per chunk (a 20 MB result cost seconds).
            return Client(WatchedTransport(linear_stdio_client(target), lost), **options)  # type: ignore[arg-type]
        # The direct in-process path waits out a plain `def` tool even when cancelled; the
        # stream path (legacy mode) abandons it, so timeouts and barge-in stay prompt.
        mode = "legacy" if _has_sync_tools(target) else "auto"
        return Client(target, mode=mode, **options)

    async def _elicit(
        self, context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult | types.ErrorData:
        """A server's question (2026 `input_required`, or a legacy `elicitation/create`): the call's.

        An `input_required` round runs in the calling task, so its hooks are at hand. A legacy
        request arrives on the connection's own task: it belongs to the one call in flight that
        can ask; with none (or several) it is declined rather than put to the wrong user.
        """
        hooks = current_hooks.get()
        if hooks is None:
            asking = [h for h in self._inflight.values() if h is not None and h.ask is not None]
            hooks = asking[0] if len(asking) == 1 else None
        if hooks is None or hooks.ask is None:
            return types.ElicitResult(action="decline")
        return await hooks.ask(params)

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Connect and stay connected until `close()`.

        Reports started after the first attempt, whether it worked or not; a server that fails
        to start is not retried (its `error` says why), one that dies later is restarted.
        """
        started = False
        backoff = INITIAL_BACKOFF_S
        with anyio.CancelScope() as self._scope:
            while not self._gave_up:
                lost = anyio.Event()
                try:
                    with anyio.CancelScope(deadline=anyio.current_time() + CONNECT_TIMEOUT_S) as connecting:
                        async with self._client_for(lost) as client:
                            await self._list_tools(client)
                            connecting.deadline = math.inf
                            async with anyio.create_task_group() as watchers:
                                watchers.start_soon(self._refresh_on_change, client)
                                if client.protocol_version in MODERN_PROTOCOL_VERSIONS:
                                    watchers.start_soon(self._listen, client, lost)
                                self._publish(client, lost, restarted=started)
                                if not started:
                                    started = True
                                    task_status.started()
                                backoff = INITIAL_BACKOFF_S
                                await lost.wait()
                                self._disconnect()
                                watchers.cancel_scope.cancel()
                    if connecting.cancelled_caught:
                        raise TimeoutError
                except Exception as exc:
                    self.error = describe_error(exc)
                finally:
                    self._disconnect()
                if not started:
                    break
                if self.error is None:
                    self.error = "the connection was lost; restarting"
                if self.spec.kind == "in-process":
                    self._gave_up = True  # nothing to restart: the server lives in this process
                    self._state_changed()
                    return
                await anyio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
        if not started:  # failed (or closed) before the first connection: not retried
            self.start_failed = True
            self._gave_up = True
            self.error = self.error or "closed before it connected"
            task_status.started()

    def _publish(self, client: Client, lost: anyio.Event, *, restarted: bool) -> None:
        """Make a freshly connected client available to calls."""
        self._client = client
        self._lost = lost
        self.error = None
        self._state_changed()
        if restarted:
            self.restarts += 1
            detail = {"restarts": self.restarts}
            self._on_event(ToolEvent("server_restarted", server=self.name, detail=detail))
        self._on_tools(self)

    def _disconnect(self) -> None:
        """Withdraw the client; calls still running on it fail now rather than hang."""
        self._client = None
        self._lost = None
        self._state_changed()
        for scope, hooks in list(self._inflight.items()):
            if hooks is not None:
                hooks.detached = True  # a task goes on at the server; it is resumed, not cancelled
            scope.cancel()

    # -- tool listing -----------------------------------------------------------------------------

    async def _list_tools(self, client: Client) -> None:
        """Fetch every page of tools/list, bypassing the client's cache, and apply the allow-list."""
        tools: list[types.Tool] = []
        cursor: str | None = None
        for _ in range(_LIST_PAGE_CAP):
            page = await client.list_tools(cursor=cursor, cache_mode="bypass")
            tools.extend(page.tools)
            cursor = page.next_cursor
            if cursor is None:
                break
        allowed = self.spec.tools
        self.tools = [t for t in tools if allowed is None or t.name in allowed]

    async def _on_message(self, message: IncomingMessage) -> None:
        # Handshake-era servers announce changes as plain notifications.
        if isinstance(message, types.ToolListChangedNotification):
            self._tools_dirty.set()
        await anyio.lowlevel.checkpoint()

    async def _listen(self, client: Client, lost: anyio.Event) -> None:
        """2026-era servers announce changes only on a `subscriptions/listen` stream."""
        try:
            async with client.listen(tools_list_changed=True) as subscription:
                async for _event in subscription:
                    self._tools_dirty.set()
        except SubscriptionLost:
            lost.set()
        except (ListenNotSupportedError, MCPError):
            pass  # the server offers no change stream: its listing is fixed

    async def _refresh_on_change(self, client: Client) -> None:
        while True:
            await self._tools_dirty.wait()
            self._tools_dirty = anyio.Event()
            try:
                await self._list_tools(client)
            except MCPError as exc:
                if exc.code == CONNECTION_CLOSED and self._lost is not None:
                    self._lost.set()
                continue
            self._on_tools(self)

    # -- calls --------------------------------------------------------------------------------------

    def _state_changed(self) -> None:
        """Wake calls waiting for a (re)connection."""
        self._state.set()
        self._state = anyio.Event()

    async def _current_client(self, wait_s: float, stale: Client | None = None) -> Client:
        """The connected client (not `stale`), waiting up to `wait_s` for a restart in progress."""
        with anyio.move_on_after(wait_s):
            while (self._client is None or self._client is stale) and not self._gave_up:
                await self._state.wait()
        if self._client is None or self._client is stale:
            raise ServerUnavailable(self.error or "the server is not connected")
        return self._client

    async def call(
        self,
        tool: str,
        arguments: dict[str, Any],
        *,
        timeout_s: float,
        progress: ProgressFn | None = None,
        retry_on_disconnect: bool = False,
        meta: Mapping[str, Any] | None = None,
        hooks: CallHooks | None = None,
    ) -> types.CallToolResult:
        """Call one tool.

        Raises `ServerUnavailable` (not connected, or the connection died mid-call),
        `TimeoutError`, or `MCPError`. Cancelling the caller cancels the MCP request (or the
        task). `retry_on_disconnect` (for read-only tools, where running twice is harmless)
        retries once on the restarted server when the connection closes under the call.

        A call the server runs as a task is no longer bound by `timeout_s` but by the task's
        TTL; `hooks` hear of it. A connection lost under a task resumes it on the restarted
        server by its id rather than calling again.
        """
        hooks = hooks or CallHooks()
        with anyio.fail_after(timeout_s) as hooks.scope:
            async with self._limiter:
                stale: Client | None = None
                while True:
                    client = await self._current_client(min(RECONNECT_WAIT_S, timeout_s), stale)
                    token = current_hooks.set(hooks)
                    try:
                        if hooks.task is not None:
                            return await self._follow_once(client, hooks)
                        return await self._call_once(client, tool, arguments, timeout_s, progress, meta)
                    except ServerUnavailable:
                        if hooks.task is None and (not retry_on_disconnect or stale is not None):
                            raise
                        stale = client
                    finally:
                        current_hooks.reset(token)

    async def resume_task(
        self, hooks: CallHooks, *, wait_s: float = RECONNECT_WAIT_S
    ) -> types.CallToolResult:
        """Follow a task this or another process started (`hooks.task` names it) to its end."""
        assert hooks.task is not None, "resume_task needs the task's id"
        stale: Client | None = None
        while True:
            client = await self._current_client(wait_s, stale)
            try:
                return await self._follow_once(client, hooks)
            except ServerUnavailable:
                stale = client

    async def _follow_once(self, client: Client, hooks: CallHooks) -> types.CallToolResult:
        assert hooks.task is not None
        task = hooks.task
        hooks.detached = False
        return await self._watched(hooks, "task", lambda: follow_task(client.session, task, hooks))

    async def _call_once(
        self,
        client: Client,
        tool: str,
        arguments: dict[str, Any],
        timeout_s: float,
        progress: ProgressFn | None,
        meta: Mapping[str, Any] | None = None,
    ) -> types.CallToolResult:
        # mcp types the callback as a Protocol with named parameters, but only ever calls it
        # positionally and awaits the result, which is all a ProgressFn promises.
        callback = cast("ProgressFnT | None", progress)
        return await self._watched(
            current_hooks.get(),
            "call",
            lambda: client.call_tool(
                tool,
                arguments,
                read_timeout_seconds=timeout_s,
                progress_callback=callback,
                meta=cast("RequestParamsMeta", dict(meta)) if meta else None,
            ),
        )

    async def _watched(
        self,
        hooks: CallHooks | None,
        what: str,
        request: Callable[[], Awaitable[types.CallToolResult]],
    ) -> types.CallToolResult:
        """One request to the server, cancelled (and reported unavailable) if its connection is lost."""
        lost = self._lost
        with anyio.CancelScope() as scope:
            self._inflight[scope] = hooks
            try:
                return await request()
            except MCPError as exc:
                if exc.code == CONNECTION_CLOSED:
                    if lost is not None:
                        lost.set()
                    raise ServerUnavailable(f"the server's connection closed during the {what}") from exc
                raise
            finally:
                self._inflight.pop(scope, None)
        raise ServerUnavailable(f"the server's connection was lost during the {what}")
