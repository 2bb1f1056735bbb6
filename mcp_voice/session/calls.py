"""Running host calls: sync, long-running (placeholder or deferred), barge-in, result injection.

A sync call answers with its `function_call_output` and asks for a response. A long-running call
answers at once with a "running" placeholder (so the model can keep talking) and delivers its
result later as a system message; in `deferred` mode the real output is held back instead. On
barge-in each running call follows its tool's `on_barge_in`: `cancel` (MCP cancellation, never
injected), `keep` (injected silently), `announce` (injected and spoken when the floor is free).
Every call delivers at most once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio

from mcp_voice.protocol.events import new_item_id
from mcp_voice.session.items import (
    cancelled_output,
    declined_output,
    function_call_output,
    image_message,
    item_done,
    mcp_call_event,
    progress_note,
    result_note,
    running_output,
    system_message,
)
from mcp_voice.session.limits import truncate_output
from mcp_voice.session.outbox import Outbox
from mcp_voice.session.presenter import HostCallView
from mcp_voice.session.sequencer import ResponseSequencer
from mcp_voice.tools.registry import ToolRegistry
from mcp_voice.tools.spec import ToolResult

logger = logging.getLogger(__name__)

Spawn = Callable[..., None]
"""Start `fn(*args)` in the session's task group."""


@dataclass(eq=False)
class Call:
    """One host call from start to delivery."""

    view: HostCallView
    output_index: int
    placeholder: bool
    """A long-running call answered with a "running" placeholder; its result comes as a note."""
    long_running: bool
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    barged_in: bool = False
    cancelled: bool = False
    finished: bool = False
    last_note: float = 0.0

    @property
    def speak(self) -> bool:
        """Whether the result earns a response (a barged-in `keep` call is committed silently)."""
        return not (self.barged_in and self.view.tool.policy.on_barge_in == "keep")


class CallManager:
    """The session's running calls."""

    def __init__(
        self,
        registry: ToolRegistry,
        outbox: Outbox,
        sequencer: ResponseSequencer,
        spawn: Spawn,
        *,
        async_mode: Literal["placeholder", "deferred"] = "placeholder",
        progress_updates: bool = True,
        progress_interval_s: float = 5.0,
        meta: dict[str, Any] | None = None,
        max_calls: int | None = None,
        max_result_chars: int | None = None,
    ) -> None:
        self._registry = registry
        self._limit = anyio.CapacityLimiter(max_calls) if max_calls else None
        """This session's share of the tool servers: its calls beyond it wait, not other sessions'."""
        self._max_result_chars = max_result_chars
        self._meta = meta
        self._out = outbox
        self._sequencer = sequencer
        self._spawn = spawn
        self._async_mode = async_mode
        self._progress_updates = progress_updates
        self._progress_interval_s = progress_interval_s
        self._running: dict[str, Call] = {}

    @property
    def running(self) -> list[Call]:
        return list(self._running.values())

    async def start(self, view: HostCallView, output_index: int) -> None:
        """Run a (possibly just approved) call; a long-running one gets its placeholder now."""
        policy = view.tool.policy
        placeholder = policy.long_running and self._async_mode == "placeholder"
        call = Call(view, output_index, placeholder, policy.long_running, last_note=anyio.current_time())
        self._running[view.item_id] = call
        await self._out.client(mcp_call_event("in_progress", view.item_id, output_index))
        if placeholder:
            output = running_output(view.tool, view.call_id)
            item = await self._out.add_item(function_call_output(new_item_id(), view.call_id, output))
            await self._sequencer.request_host([item])
        self._spawn(self._run, call)

    async def decline(self, view: HostCallView, output_index: int, reason: str | None) -> None:
        """The user said no: the model hears so, and says so."""
        view.error = "declined by the user" + (f": {reason}" if reason else "")
        output = declined_output(view.tool, reason)
        item = await self._out.add_item(function_call_output(new_item_id(), view.call_id, output))
        await self._finish_for_client(view, output_index, ok=False)
        await self._sequencer.request_host([item])

    def barge_in(self) -> None:
        """The user started speaking: each running call follows its tool's `on_barge_in`."""
        for call in self._running.values():
            if call.finished or call.barged_in:
                continue
            call.barged_in = True
            if call.view.tool.policy.on_barge_in == "cancel":
                call.cancelled = True
                call.scope.cancel()
                logger.debug("barge-in cancels %s (%s)", call.view.tool.name, call.view.call_id)

    # -- running --------------------------------------------------------------------------------

    async def _run(self, call: Call) -> None:
        view = call.view
        progress = self._progress(call) if call.long_running and self._progress_updates else None
        result: ToolResult | None = None
        try:
            with call.scope:
                async with self._limit or contextlib.nullcontext():
                    result = await self._registry.call(
                        view.tool.name,
                        view.arguments,
                        call_id=view.call_id,
                        progress=progress,
                        meta=self._meta,
                    )
            if result is None or call.cancelled:
                await self._cancelled(call)
            else:
                await self._deliver(call, result)
        finally:
            call.finished = True
            self._running.pop(view.item_id, None)

    async def _deliver(self, call: Call, result: ToolResult) -> None:
        view = call.view
        call.finished = True
        if self._max_result_chars is not None and len(result.output) > self._max_result_chars:
            result = dataclasses.replace(
                result, output=truncate_output(result.output, self._max_result_chars)
            )
        if result.is_error:
            view.error = result.error_message
        else:
            view.output = result.output
        if call.placeholder:
            note = result_note(view.tool, view.call_id, result)
            items = [await self._out.add_item(system_message(new_item_id(), note))]
        else:
            output = function_call_output(new_item_id(), view.call_id, result.output)
            items = [await self._out.add_item(output)]
        if result.images:
            items.append(await self._out.add_item(image_message(new_item_id(), result.images)))
        await self._finish_for_client(view, call.output_index, ok=not result.is_error)
        if call.speak:
            await self._sequencer.request_host(items)

    async def _cancelled(self, call: Call) -> None:
        """A cancelled call delivers no result, ever; a call still owed an output gets a silent one."""
        view = call.view
        call.finished = True
        view.error = "cancelled because the user interrupted"
        if not call.placeholder:
            output = cancelled_output(view.tool)
            await self._out.add_item(function_call_output(new_item_id(), view.call_id, output))
        await self._finish_for_client(view, call.output_index, ok=False)

    async def _finish_for_client(self, view: HostCallView, output_index: int, *, ok: bool) -> None:
        await self._out.client(mcp_call_event("completed" if ok else "failed", view.item_id, output_index))
        await self._out.client(item_done(view.item()))

    def _progress(self, call: Call) -> Callable[[float, float | None, str | None], Awaitable[Any]]:
        async def report(done: float, total: float | None, message: str | None) -> None:
            now = anyio.current_time()
            if call.finished or call.cancelled or now - call.last_note < self._progress_interval_s:
                return
            call.last_note = now
            note = progress_note(call.view.tool, call.view.call_id, done, total, message)
            await self._out.add_item(system_message(new_item_id(), note))

        return report
