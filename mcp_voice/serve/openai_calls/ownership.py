"""Calls that outlive a process: each OpenAI SIP/WebRTC call is owned through a lease in the state store.

The process that answers (or creates) a call takes the lease `call:<call_id>`, writes the call's
record (its context, its own tools, the tool calls in flight) and renews the lease every
`lease_s / 3` while its sideband session runs. Every process watches the records: a call whose
lease lapsed (its owner was killed) is taken by exactly one of them (`acquire` is atomic), which
reattaches to the sideband by `call_id` and runs the session on; tool calls the dead owner had
started are reported to the model once, as lost (a `function_call_output` saying so), except
those the MCP server runs as tasks: those live on at the server, so the record keeps each one's
server and task id, and the new owner follows it (`ToolRegistry.resume`) and delivers its result
once. A call that ends normally drops its record and lease.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio

from mcp_voice.channels import EventChannel
from mcp_voice.protocol.events import new_event_id
from mcp_voice.serve.openai_calls.sideband import SidebandOpener
from mcp_voice.serve.slots import SessionSlots
from mcp_voice.serve.state import StateStore, StateUnavailable
from mcp_voice.session.context import CallContext
from mcp_voice.tools.registry import ToolRegistry
from mcp_voice.tools.spec import ToolEvent

log = logging.getLogger("mcp_voice.serve.calls")

Event = dict[str, Any]
RECORDS = "openai-calls"
LOST_OUTPUT = json.dumps(
    {"error": "lost: the server running this tool call stopped before it finished; call it again if needed"}
)
RunCall = Callable[[CallContext, Sequence[Event], SidebandOpener], Awaitable[None]]
"""Runs one call's session over an opener (the call's `run_call_session` with its settings)."""


def owner_id() -> str:
    """This process, as the stores' lease holders name it (host, pid, a nonce against pid reuse)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _record(
    context: CallContext, tools: Sequence[Event], inflight: Sequence[str], tasks: dict[str, Event]
) -> str:
    return json.dumps(
        {
            "transport": context.transport,
            "call_id": context.call_id,
            "caller": context.caller,
            "callee": context.callee,
            "headers": dict(context.headers),
            "extra": dict(context.extra),
            "tools": list(tools),
            "inflight": list(inflight),
            "tasks": tasks,
        }
    )


def _context(record: dict[str, Any]) -> CallContext:
    return CallContext(
        transport=record.get("transport") or "sip",
        call_id=record["call_id"],
        caller=record.get("caller"),
        callee=record.get("callee"),
        headers=record.get("headers") or {},
        extra=record.get("extra") or {},
    )


class CallOwnership:
    """Leases and records of the OpenAI calls of one serve app (shared through its state store)."""

    def __init__(
        self,
        state: StateStore,
        lease_s: float = 10.0,
        owner: str | None = None,
        slots: SessionSlots | None = None,
    ) -> None:
        self.state = state
        self.slots = slots
        """The app's session count: a call taken over holds a slot like any other; a full process
        takes none (another one will)."""
        self.watch_s = min(0.5, lease_s / 10)
        """How often the records are looked at (one HGETALL per round on Redis)."""
        self.lease_s = max(0.05, lease_s * 0.85 - self.watch_s)
        """The lease's time to live in the store: short enough that expiry, one watch round and
        the reattach fit in the configured `lease_s`."""
        self.owner = owner or owner_id()
        self.taken: list[tuple[str, float]] = []
        """(call_id, time) of each call this process took over (for logs and benches)."""
        self._running: dict[str, anyio.CancelScope] = {}
        self.handing_off = False
        self._run_call: RunCall | None = None
        self._opener_for: Callable[[str], SidebandOpener] | None = None
        self.registry: ToolRegistry | None = None
        """The calls' tools: where task calls are seen starting, and resumed after a takeover."""

    def serve_with(
        self,
        run_call: RunCall,
        opener_for: Callable[[str], SidebandOpener],
        registry: ToolRegistry | None = None,
    ) -> None:
        """How a taken-over call is run (set by the calls routes, which know the settings)."""
        self._run_call = run_call
        self._opener_for = opener_for
        self.registry = registry

    async def start(self, context: CallContext, tools: Sequence[Event], opener: SidebandOpener) -> None:
        """Run a new call under its lease; without a reachable store, run it anyway (unowned)."""
        call_id = context.call_id or ""
        assert self._run_call is not None, "serve_with() first"
        try:
            owned = await self.state.acquire("call:" + call_id, self.owner, self.lease_s)
        except StateUnavailable as exc:
            log.warning("call %s runs without a lease (no other process can take it over): %s", call_id, exc)
            await self._run_call(context, tools, opener)
            return
        if not owned:
            log.warning("call %s is owned by another process already: not attaching", call_id)
            return
        await self.run(context, tools, opener, self._run_call)

    async def run(
        self,
        context: CallContext,
        tools: Sequence[Event],
        opener: SidebandOpener,
        run_call: RunCall,
        inflight: Sequence[str] = (),
        tasks: dict[str, Event] | None = None,
    ) -> None:
        """Run a call this process holds the lease of: renew it, keep its record, drop both at the end.

        `inflight`: tool calls a dead owner left; `tasks`: those of them that run as MCP tasks (by
        tool call id), resumed here."""
        tasks = tasks or {}
        call_id = context.call_id or ""
        tracker = InflightCalls(self, context, tools)
        tracker.lost = [i for i in inflight if i not in tasks]
        tracker.resuming = dict(tasks)
        await tracker.save()
        lost: list[bool] = []
        remove = self.registry.add_event_listener(tracker.tool_event) if self.registry is not None else None
        async with anyio.create_task_group() as tg:
            self._running[call_id] = tg.cancel_scope
            tg.start_soon(self._renew, call_id, tg.cancel_scope, lost)
            for tool_call, task in tasks.items():
                tg.start_soon(tracker.resume, tool_call, task)
            try:
                await run_call(context, tools, tracker.wrap(opener))
            finally:
                tg.cancel_scope.cancel()
                self._running.pop(call_id, None)
                if remove is not None:
                    remove()
        with anyio.CancelScope(shield=True):
            try:
                if not lost and not self.handing_off:  # ended here: nobody is to take it over
                    await self.state.drop_record(RECORDS, call_id)
                await self.state.release("call:" + call_id, self.owner)
            except StateUnavailable as exc:  # the lease lapses by itself
                log.warning("call %s: its lease was not released: %s", call_id, exc)

    async def hand_off(self) -> None:
        """Draining: leave every call (records kept, leases released) so other processes take them now."""
        self.handing_off = True
        for call_id, scope in list(self._running.items()):
            log.warning("call %s: handed off (this process is draining)", call_id)
            scope.cancel()

    async def _renew(self, call_id: str, scope: anyio.CancelScope, lost: list[bool]) -> None:
        while True:
            await anyio.sleep(self.lease_s / 3)
            try:
                # acquire, not renew: a lease that lapsed while this loop stalled, and that nobody
                # took, is simply ours again; one another process took means leaving the call
                if not await self.state.acquire("call:" + call_id, self.owner, self.lease_s):
                    log.warning("call %s: its lease went to another process; leaving the call", call_id)
                    lost.append(True)
                    scope.cancel()
                    return
            except StateUnavailable as exc:  # the session goes on; the lease is renewed when it can be
                log.warning("call %s: lease not renewed: %s", call_id, exc)

    async def watch(self) -> None:
        """Forever: take over calls whose owner stopped renewing (run by `run.py` beside the server)."""
        run_call, opener_for = self._run_call, self._opener_for
        if run_call is None or opener_for is None:
            return
        async with anyio.create_task_group() as tg:
            while True:
                await anyio.sleep(self.watch_s)
                if self.handing_off:
                    continue
                try:
                    records = await self.state.records(RECORDS)
                    for call_id, raw in records.items():
                        if call_id in self._running:  # ours, even when a stalled loop let it lapse
                            continue
                        if await self.state.holder("call:" + call_id) is not None:
                            continue
                        if self.slots is not None and not self.slots.take():
                            log.debug("call %s is free but this process is full: leaving it", call_id)
                            continue
                        won = False
                        try:
                            won = await self.state.acquire("call:" + call_id, self.owner, self.lease_s)
                        finally:
                            if self.slots is not None and not won:
                                self.slots.release()
                        if won:
                            record = json.loads(raw)
                            self.taken.append((call_id, anyio.current_time()))
                            log.warning("call %s: its owner stopped; taking it over", call_id)
                            tg.start_soon(self._take_over, record, run_call, opener_for(call_id))
                except StateUnavailable as exc:
                    log.debug("call watch: %s", exc)

    async def _take_over(self, record: dict[str, Any], run_call: RunCall, opener: SidebandOpener) -> None:
        """Run a call taken over, holding the session slot `watch` took for it."""
        context = _context(record)
        inflight = [str(i) for i in record.get("inflight") or ()]
        tasks = {str(k): v for k, v in (record.get("tasks") or {}).items() if isinstance(v, dict)}
        if self.registry is None:  # nothing to resume them with: reported lost like the others
            inflight, tasks = [*inflight, *(k for k in tasks if k not in inflight)], {}
        if self.slots is None:
            await self.run(context, record.get("tools") or (), opener, run_call, inflight, tasks)
            return
        with self.slots.held():
            await self.run(context, record.get("tools") or (), opener, run_call, inflight, tasks)


class InflightCalls:
    """The model's function calls on one call that no output answered yet, kept in the call's record.

    A tap on the sideband: `conversation.item.done` of a `function_call` adds its id, our
    `function_call_output` removes it. `lost` (ids a dead owner left) are answered first, once.
    """

    def __init__(self, ownership: CallOwnership, context: CallContext, tools: Sequence[Event]) -> None:
        self.ownership = ownership
        self.context = context
        self.tools = tools
        self.open: list[str] = []
        self.lost: list[str] = []
        self.tasks: dict[str, Event] = {}
        """Tool calls of this call that run as MCP tasks, not yet finished: {server, task_id,
        tool, answered (a placeholder output was sent)}."""
        self.resuming: dict[str, Event] = {}
        """Tasks a dead owner left, being followed here (kept in the record until delivered)."""
        self.attached = anyio.Event()
        self.channel: EventChannel | None = None
        """The sideband now (a reconnect replaces it)."""
        self._saving: set[asyncio.Task[None]] = set()

    async def save(self) -> None:
        try:
            tasks = {**self.resuming, **self.tasks}
            value = _record(self.context, self.tools, [*self.lost, *self.open], tasks)
            await self.ownership.state.put_record(RECORDS, self.context.call_id or "", value)
        except StateUnavailable as exc:
            log.warning("call %s: record not saved: %s", self.context.call_id, exc)

    def wrap(self, opener: SidebandOpener) -> SidebandOpener:
        @asynccontextmanager
        async def tapped() -> Any:
            async with opener() as upstream:
                tap = _Tap(upstream, self)
                await tap.report_lost()
                self.channel = tap
                self.attached.set()
                yield tap

        def open_tapped() -> AbstractAsyncContextManager[EventChannel]:
            return tapped()

        return open_tapped

    def tool_event(self, event: ToolEvent) -> None:
        """A registry event: a call of this call became a task, or ended (then nothing to resume)."""
        if event.call_id is None or event.call_id not in self.open:
            return
        if event.kind == "task":
            self.tasks[event.call_id] = {
                "server": event.server,
                "task_id": event.detail.get("task_id"),
                "tool": event.tool,
                "answered": False,
            }
        elif event.kind == "cancelled" and self.ownership.handing_off:
            return  # left for the next owner (which resumes it, and so hears how it ended)
        elif event.kind in ("finished", "failed", "cancelled") and event.call_id in self.tasks:
            if self.tasks.pop(event.call_id)["answered"]:  # its note needs no output: done here
                self.open.remove(event.call_id)
        else:
            return
        self._save_soon()

    def _save_soon(self) -> None:
        """Save from the registry's synchronous listener (it is called inside the call's task)."""
        saving = asyncio.get_running_loop().create_task(self.save())
        self._saving.add(saving)
        saving.add_done_callback(self._saving.discard)

    async def resume(self, tool_call: str, task: Event) -> None:
        """Follow a task the dead owner left to its end; deliver its result once on the sideband."""
        registry = self.ownership.registry
        assert registry is not None
        server, task_id, tool = str(task.get("server")), str(task.get("task_id")), task.get("tool")
        log.warning("call %s: resuming task %s (%s) the dead owner left", self.context.call_id, task_id, tool)
        result = await registry.resume(server, task_id)
        await self.attached.wait()
        assert self.channel is not None
        if task.get("answered"):  # the model had the placeholder: the result comes as a note
            verb = "failed. Error" if result.is_error else "has finished. Result"
            text = f"The background job {tool} (call_id {tool_call}) {verb}: {result.output}\nTell the user."
            content = [{"type": "input_text", "text": text}]
            item: Event = {"type": "message", "role": "system", "content": content}
        else:
            item = {"type": "function_call_output", "call_id": tool_call, "output": result.output}
        event = {"type": "conversation.item.create", "event_id": new_event_id(), "item": item}
        await self.channel.send(event)
        await self.channel.send({"type": "response.create", "event_id": new_event_id()})
        self.resuming.pop(tool_call, None)
        await self.save()


class _Tap:
    """The sideband as an EventChannel that tells `InflightCalls` about function calls and outputs."""

    def __init__(self, inner: EventChannel, calls: InflightCalls) -> None:
        self._inner = inner
        self._calls = calls

    async def report_lost(self) -> None:
        """Tell the model, once, that the calls the dead owner ran are lost (then forget them)."""
        if not self._calls.lost:
            return
        call = self._calls.context.call_id
        for call_id in self._calls.lost:
            log.warning("call %s: tool call %s was lost with its process", call, call_id)
            item = {"type": "function_call_output", "call_id": call_id, "output": LOST_OUTPUT}
            event = {"type": "conversation.item.create", "event_id": new_event_id(), "item": item}
            await self._inner.send(event)
        self._calls.lost = []
        await self._calls.save()

    async def send(self, event: Event | str) -> None:
        await self._inner.send(event)
        if isinstance(event, dict) and event.get("type") == "conversation.item.create":
            item = event.get("item") or {}
            if item.get("type") == "function_call_output" and item.get("call_id") in self._calls.open:
                task = self._calls.tasks.get(item["call_id"])
                if task is not None:  # a task's placeholder: the task goes on; its result comes later
                    task["answered"] = True
                else:
                    self._calls.open.remove(item["call_id"])
                await self._calls.save()

    async def receive(self) -> Event | str:
        event = await self._inner.receive()
        if isinstance(event, str) and '"function_call"' in event:  # raw text: parse only when it may matter
            try:
                parsed = json.loads(event)
            except ValueError:
                return event
            await self._seen(parsed)
        elif isinstance(event, dict):
            await self._seen(event)
        return event

    async def _seen(self, event: Event) -> None:
        if event.get("type") != "conversation.item.done":
            return
        item = event.get("item") or {}
        if item.get("type") == "function_call" and isinstance(item.get("call_id"), str):
            if item["call_id"] not in self._calls.open:
                self._calls.open.append(item["call_id"])
                await self._calls.save()

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __getattr__(self, name: str) -> Any:  # the reconnecting upstream's extras (mirror, stats)
        return getattr(self._inner, name)
