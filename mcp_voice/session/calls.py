"""Running host calls: sync, long-running (placeholder or deferred), barge-in, result injection.

A sync call answers with its `function_call_output` and asks for a response. A long-running call
answers at once with a "running" placeholder (so the model can keep talking) and delivers its
result later as a system message; in `deferred` mode the real output is held back instead. On
barge-in each running call follows its tool's `on_barge_in`: `cancel` (MCP cancellation, never
injected), `keep` (injected silently), `announce` (injected and spoken when the floor is free).
Every call delivers at most once.

What the client sees of a call (nothing with `host_calls = "hidden"`) is the presenter's shape,
sent through the feed: a synchronous call holds its response's `response.done` until its final
events are out; a placeholder call is final for the client at once, with the placeholder as output.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
from mcp_types import ElicitRequestParams, ElicitResult

from mcp_voice.protocol.events import new_item_id
from mcp_voice.session.feed import ClientFeed
from mcp_voice.session.items import (
    cancelled_output,
    declined_output,
    function_call_output,
    image_message,
    progress_note,
    result_note,
    running_output,
    system_message,
)
from mcp_voice.session.limits import truncate_output
from mcp_voice.session.outbox import Outbox
from mcp_voice.session.presenter import HostCallView, Presenter
from mcp_voice.session.questions import Questions
from mcp_voice.session.sequencer import ResponseSequencer
from mcp_voice.tools.registry import AskCallback, ToolRegistry
from mcp_voice.tools.spec import ToolResult
from mcp_voice.tools.tasks import TaskInfo

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
    shown_done: bool = False
    """The client already got the call's final events (a placeholder call gets them at once)."""
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    barged_in: bool = False
    cancelled: bool = False
    finished: bool = False
    last_note: float = 0.0
    task_id: str | None = None
    """The MCP task the server runs this call as (it outlives an upstream reconnect)."""
    started: float = 0.0
    progress: str | None = None
    """The last progress the server reported (for the model's list of running calls)."""
    cancel_reason: str = "because the user interrupted"

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
        presenter: Presenter,
        feed: ClientFeed,
        *,
        async_mode: Literal["placeholder", "deferred"] = "placeholder",
        progress_updates: bool = True,
        progress_interval_s: float = 5.0,
        meta: dict[str, Any] | None = None,
        max_calls: int | None = None,
        max_result_chars: int | None = None,
        questions: Questions | None = None,
        ask_timeout_s: float = 120.0,
        on_task: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """`on_task`: a call became an MCP task (the session has long-running work now)."""
        self._registry = registry
        self._on_task = on_task
        self._questions = questions
        self._ask_timeout_s = ask_timeout_s
        self._limit = anyio.CapacityLimiter(max_calls) if max_calls else None
        """This session's share of the tool servers: its calls beyond it wait, not other sessions'."""
        self._max_result_chars = max_result_chars
        self._meta = meta
        self._out = outbox
        self._presenter = presenter
        self._feed = feed
        self._sequencer = sequencer
        self._spawn = spawn
        self._async_mode = async_mode
        self._progress_updates = progress_updates
        self._progress_interval_s = progress_interval_s
        self._running: dict[str, Call] = {}
        self._idle = anyio.Event()

    @property
    def running(self) -> list[Call]:
        return list(self._running.values())

    async def wait_idle(self) -> None:
        """Until no call is running (a phone call that hung up lets its calls finish)."""
        while self._running:
            self._idle = anyio.Event()
            await self._idle.wait()

    async def start(self, view: HostCallView, output_index: int, *, hold: bool = False) -> None:
        """Run a (possibly just approved) call; a long-running one gets its placeholder now.

        `hold`: the call started with its response, which the client sees end only after it.
        """
        policy = view.tool.policy
        placeholder = policy.long_running and self._async_mode == "placeholder"
        now = anyio.current_time()
        call = Call(view, output_index, placeholder, policy.long_running, last_note=now, started=now)
        view.owned = True
        view.output_index = output_index
        self._running[view.item_id] = call
        if hold and not policy.long_running and not self._presenter.hidden:
            self._feed.open_call(view.response_id, view.item_id)
        await self._feed.call_events(view.response_id, self._presenter.call_started(view))
        if placeholder:
            output = running_output(view.tool, view.call_id)
            item = await self._out.add_item(function_call_output(new_item_id(), view.call_id, output))
            view.output = output
            await self._sequencer.request_host([item], readback=self._readback)
            await self._finish_for_client(call, ok=True)
        self._spawn(self._run, call)

    async def decline(self, view: HostCallView, output_index: int, reason: str | None) -> None:
        """The user said no: the model hears so, and says so."""
        view.owned = True
        view.output_index = output_index
        view.error = "declined by the user" + (f": {reason}" if reason else "")
        output = declined_output(view.tool, reason)
        item = await self._out.add_item(function_call_output(new_item_id(), view.call_id, output))
        await self._sequencer.request_host([item], readback=self._readback)
        await self._feed.close_call(
            view.response_id, view.item_id, self._presenter.call_finished(view, ok=False)
        )

    @property
    def _readback(self) -> bool:
        """Whether the client saw the call end, so may ask for the read-back itself (and join ours)."""
        return not self._presenter.hidden

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

    def cancel(self, call: Call, reason: str) -> None:
        """End a running call: MCP cancellation (or `tasks/cancel`) goes out; it is never spoken."""
        if call.finished or call.cancelled:
            return
        call.cancelled = True
        call.cancel_reason = reason
        call.scope.cancel()
        logger.debug("cancelled %s (%s) %s", call.view.tool.name, call.view.call_id, reason)

    # -- running --------------------------------------------------------------------------------

    async def _run(self, call: Call) -> None:
        view = call.view
        progress = self._progress(call)
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
                        on_task=lambda info: self._became_task(call, info),
                        ask=self._ask(call),
                        ask_timeout_s=self._ask_timeout_s,
                    )
            if result is None or call.cancelled:
                await self._cancelled(call)
            else:
                await self._deliver(call, result)
        finally:
            call.finished = True
            self._running.pop(view.item_id, None)
            if not self._running:
                self._idle.set()

    async def _became_task(self, call: Call, info: TaskInfo) -> None:
        """The server runs the call as a task: it is long-running now, whatever its config said."""
        call.task_id = info.task_id
        logger.debug("%s (%s) runs as task %s", call.view.tool.name, call.view.call_id, info.task_id)
        if self._on_task is not None:  # first, so the model has the steering tools as it speaks
            await self._on_task()
        await self._to_background(call)

    async def _to_background(self, call: Call) -> None:
        """A call that turned out long (a task, a question for the user) goes on in the background.

        In `placeholder` mode a call not yet answered gets its placeholder at once (the client
        sees it done, as for any long-running call, and the response it held goes on); its
        result comes later as a note.
        """
        call.long_running = True
        if call.placeholder or call.finished or self._async_mode != "placeholder":
            return
        call.placeholder = True
        view = call.view
        output = running_output(view.tool, view.call_id)
        item = await self._out.add_item(function_call_output(new_item_id(), view.call_id, output))
        view.output = output
        await self._sequencer.request_host([item], readback=self._readback)
        await self._finish_for_client(call, ok=True)

    def _ask(self, call: Call) -> AskCallback | None:
        questions = self._questions
        if questions is None:
            return None

        async def ask(params: ElicitRequestParams) -> ElicitResult:
            await self._to_background(call)  # the question is spoken while the call waits
            return await questions.ask(call.view, params)

        return ask

    async def show_done(self, view: HostCallView, output_index: int, *, ok: bool) -> None:
        """A host tool the session answers itself (the answer tool): shown done to the client."""
        view.owned = True
        view.output_index = output_index
        await self._feed.close_call(
            view.response_id, view.item_id, self._presenter.call_finished(view, ok=ok)
        )

    async def _deliver(self, call: Call, result: ToolResult) -> None:
        view = call.view
        call.finished = True
        if self._max_result_chars is not None and len(result.output) > self._max_result_chars:
            result = dataclasses.replace(
                result, output=truncate_output(result.output, self._max_result_chars)
            )
        if call.placeholder:
            note = result_note(view.tool, view.call_id, result)
            items = [await self._out.add_item(system_message(new_item_id(), note))]
        else:
            if result.is_error:
                view.error = result.error_message
            else:
                view.output = result.output
            output = function_call_output(new_item_id(), view.call_id, result.output)
            items = [await self._out.add_item(output)]
        if result.images:
            items.append(await self._out.add_item(image_message(new_item_id(), result.images)))
        if call.speak:
            # Asked before the client sees the call end, so a client's own request for the
            # read-back (it gets to ask only then) always finds this one to join.
            await self._sequencer.request_host(items, readback=self._readback and not call.shown_done)
        await self._finish_for_client(call, ok=not result.is_error)

    async def _cancelled(self, call: Call) -> None:
        """A cancelled call delivers no result, ever; a call still owed an output gets a silent one."""
        view = call.view
        call.finished = True
        if not call.placeholder:
            view.error = "cancelled " + call.cancel_reason
            output = cancelled_output(view.tool, call.cancel_reason)
            await self._out.add_item(function_call_output(new_item_id(), view.call_id, output))
        await self._finish_for_client(call, ok=False)

    async def _finish_for_client(self, call: Call, *, ok: bool) -> None:
        """The call's final events, once: a placeholder call's were sent when it started."""
        if call.shown_done:
            return
        call.shown_done = True
        view = call.view
        await self._feed.close_call(
            view.response_id, view.item_id, self._presenter.call_finished(view, ok=ok)
        )

    def _progress(self, call: Call) -> Callable[[float, float | None, str | None], Awaitable[Any]]:
        async def report(done: float, total: float | None, message: str | None) -> None:
            now = anyio.current_time()
            call.progress = message or (f"{done:g}/{total:g}" if total else f"{done:g}")
            if not self._progress_updates or not call.long_running or call.finished or call.cancelled:
                return
            if now - call.last_note < self._progress_interval_s:
                return
            call.last_note = now
            note = progress_note(call.view.tool, call.view.call_id, done, total, message)
            await self._out.add_item(system_message(new_item_id(), note))

        return report
