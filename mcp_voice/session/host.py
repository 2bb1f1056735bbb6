"""SessionHost: one realtime session between a client and an upstream, with MCP tools run in the host.

The host sits in the middle of two GA event channels. Client events are checked and forwarded
(`response.create` through the sequencer, `session.update` with the host's tools merged in,
approval answers kept); upstream events are shown to the client through the presenter, and a
completed host `function_call` starts a call. Audio passes straight through in both directions.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc

from mcp_voice.channels import ChannelClosed, EventChannel
from mcp_voice.protocol.events import (
    ClientEventError,
    error_event,
    new_event_id,
    new_item_id,
    parse_client_event,
)
from mcp_voice.protocol.shapes import checked
from mcp_voice.session.approval import ApprovalGate
from mcp_voice.session.calls import CallManager
from mcp_voice.session.context import META_CALL, CallContext, SessionObserver
from mcp_voice.session.feed import ClientFeed
from mcp_voice.session.items import function_call_output, refused_output
from mcp_voice.session.limits import CLOSE_TOO_BIG, EventRate, queue_error, rate_error, size_error
from mcp_voice.session.outbox import Outbox
from mcp_voice.session.pin import SessionPin
from mcp_voice.session.presenter import Presenter
from mcp_voice.session.questions import Questions
from mcp_voice.session.sequencer import VAD_RESPONSE_GRACE_S, ResponseSequencer
from mcp_voice.session.settings import HostSettings
from mcp_voice.session.steering import Steering
from mcp_voice.session.tools import SessionTools
from mcp_voice.tools.client_urls import ClientServerPolicy
from mcp_voice.tools.registry import ToolRegistry
from mcp_voice.tools.spec import HostTool

logger = logging.getLogger(__name__)

Event = dict[str, Any]

_UPSTREAM_PASSTHROUGH = frozenset(
    {
        "response.output_audio.delta",
        "response.output_audio_transcript.delta",
        "response.output_text.delta",
        "conversation.item.input_audio_transcription.delta",
        "rate_limits.updated",
    }
)
"""Upstream events the host never acts on or rewrites: forwarded with no work at all."""
_CLOSE_TIMEOUT_S = 5.0


class SessionHost:
    """Runs one session: `await host.run()` until either side closes."""

    def __init__(
        self,
        registry: ToolRegistry,
        upstream: EventChannel,
        client: EventChannel,
        settings: HostSettings | None = None,
        *,
        context: CallContext | None = None,
        observer: SessionObserver | None = None,
    ) -> None:
        self.settings = settings = settings or HostSettings()
        self.context = context or CallContext()
        self.observer = observer
        self.end_reason = "ended"
        """Why the session ended, for `session_ended` and logs (set by whoever ends it)."""
        self.close_code = 1000
        self.close_reason = "session ended"
        """The WebSocket close a transport gives its client (1011 upstream unavailable, 1001
        shutdown, 1008/1009 policy); see `end()`."""
        self.registry = registry
        self.upstream = upstream = checked(upstream)  # a no-op for a WebSocket or reconnecting upstream
        self.client = client
        self.tools = SessionTools(
            registry,
            auto=settings.register_plugin_tools,
            allow_urls=settings.allow_client_servers,
            url_policy=ClientServerPolicy(
                tuple(settings.client_server_urls),
                tuple(settings.client_server_headers),
                settings.client_server_timeout_s,
            ),
            spawn=self._spawn,
            report=self._tools_problem,
        )
        self.presenter = Presenter(
            self.tools.lookup,
            self.tools.label,
            self.tools.client_view,
            hidden=settings.host_calls == "hidden",
        )
        self.outbox = Outbox(upstream, client, self.presenter)
        self.feed = ClientFeed(client.send, self.presenter.present)
        self.sequencer = ResponseSequencer(
            self.outbox.forward,
            max_client_queue=settings.max_queued_responses,
            readback_wait_s=settings.readback_wait_s,
            later=self._later,
            reply=self.outbox.client,
        )
        self.questions = Questions(self.outbox, self.sequencer, self._show_tool)
        self.calls = CallManager(
            registry,
            self.outbox,
            self.sequencer,
            self._spawn,
            self.presenter,
            self.feed,
            async_mode=settings.async_mode,
            progress_updates=settings.progress_updates,
            progress_interval_s=settings.progress_interval_s,
            meta={META_CALL: self.context.meta()},
            max_calls=settings.max_session_calls,
            max_result_chars=settings.max_result_chars,
            questions=self.questions,
            ask_timeout_s=settings.elicitation_timeout_s,
            on_task=self._task_started,
        )
        self.steering = Steering(
            self.calls,
            self.outbox,
            self.sequencer,
            self.tools.show,
            list_tool=settings.running_calls_tool,
            cancel_tool=settings.cancel_call_tool,
            readback=not self.presenter.hidden,
        )
        self.pin = SessionPin(settings.pinned_session) if settings.pinned_session else None
        if self.pin is not None:
            self.presenter.pinned = self.pin.session
        self.approvals = ApprovalGate(self.outbox, self.calls.start, self.calls.decline)
        self.closed = anyio.Event()
        self._task_group: anyio.abc.TaskGroup | None = None
        self._tools_dirty = anyio.Event()
        self._sent_tools: list[Event] | None = None
        self._dispatched: set[str] = set()
        self._dispatched_calls: set[str] = set()
        self._rate = EventRate(settings.max_events_per_s)
        self._vad_commits = 0

    # -- lifecycle ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the session until the client or the upstream goes away; then clean up."""
        remove_listener = self.registry.add_listener(self._on_tools_changed)
        self._notify("session_started", self.context)
        try:
            async with anyio.create_task_group() as task_group:
                self._task_group = task_group
                task_group.start_soon(self._loop, self._start_and_relay_upstream)
                task_group.start_soon(self._loop, self._relay_client)
                task_group.start_soon(self._loop, self._watch_tools)
        finally:
            self._task_group = None
            remove_listener()
            # Each step gets its own time limit: a session server that hangs on close must not
            # keep the two sockets open.
            for close in (self.client.aclose, self.upstream.aclose, self.tools.aclose):
                with anyio.CancelScope(shield=True), anyio.move_on_after(_CLOSE_TIMEOUT_S):
                    await close()
            self.closed.set()
            self._notify("session_ended", self.context, self.end_reason)

    def _notify(self, name: str, *args: Any) -> None:
        if self.observer is None:
            return
        try:
            getattr(self.observer, name)(*args)
        except Exception:
            logger.warning("session observer %s failed", name, exc_info=True)

    def stop(self) -> None:
        """End the session (running calls are cancelled)."""
        if self._task_group is not None:
            self._task_group.cancel_scope.cancel()

    def end(self, code: int, reason: str) -> None:
        """End the session telling the client why (the first reason given wins)."""
        if self.close_code == 1000:
            self.close_code, self.close_reason = code, reason
            if self.end_reason == "ended":
                self.end_reason = reason
        self.stop()

    async def _loop(self, body: Callable[[], Awaitable[None]]) -> None:
        """A relay loop: when it ends, for whatever reason, the session ends."""
        try:
            await body()
        except ChannelClosed as exc:
            logger.debug("session ends: %s", exc or "a channel closed")
            if self.end_reason == "ended":
                self.end_reason = str(exc) or "a channel closed"
            # The client's side closing needs no close frame; any other channel was the upstream's.
            self.end(1011, "upstream unavailable")
        except Exception:
            logger.exception("session loop failed; ending the session")
            self.end(1011, "internal error")
        finally:
            self.stop()

    def _spawn(self, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
        if self._task_group is not None:
            self._task_group.start_soon(self._task, fn, *args)

    def _later(self, delay: float, fn: Callable[[], Awaitable[None]]) -> None:
        async def after() -> None:
            await anyio.sleep(delay)
            await fn()

        self._spawn(after)

    async def _task(self, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
        """A call task: a closed channel ends the session; a bug ends only the task."""
        try:
            await fn(*args)
        except ChannelClosed:
            self.end(1011, "upstream unavailable")
        except Exception:
            logger.exception("host task %s failed", getattr(fn, "__name__", fn))

    async def _vad_grace(self, commit: int) -> None:
        """If server VAD starts no response after a commit, stop holding requests for it."""
        await anyio.sleep(VAD_RESPONSE_GRACE_S)
        if commit == self._vad_commits and self.sequencer.awaiting_vad:
            self.sequencer.vad_wait_over()
            await self.sequencer.drain()

    # -- phone calls ----------------------------------------------------------------------------

    async def dtmf(self, digit: str) -> None:
        """A keypad press: follows `settings.dtmf` (by default a user text and a response)."""
        item = self.settings.dtmf.message(digit)
        if item is None:
            return
        item_id = await self.outbox.add_item(item)
        if self.settings.dtmf.mode == "respond":
            await self.sequencer.request_host([item_id])

    # -- tools ----------------------------------------------------------------------------------

    async def _send_tools(self) -> None:
        self.steering.sync(self.tools.host_tools)
        tools = self.tools.upstream_tools()
        if tools == self._sent_tools:
            return
        self._sent_tools = tools
        event_id = new_event_id()
        event = {
            "type": "session.update",
            "event_id": event_id,
            "session": {"type": "realtime", "tools": tools},
        }
        self.presenter.session_update_sent(event_id, by_client=False)
        await self.outbox.host(event)

    async def _task_started(self) -> None:
        """A call became an MCP task: the model may steer it from now on."""
        self.steering.task_seen()
        await self._send_tools()

    async def _show_tool(self, tool: HostTool, shown: bool) -> None:
        self.tools.show(tool, shown)
        await self._send_tools()

    async def _tools_problem(self, message: str) -> None:
        """A client's tools entry failed after its update was taken (a server that did not connect)."""
        await self.outbox.client(error_event(message, code="invalid_value", param="session.tools"))

    def _on_tools_changed(self) -> None:
        self._tools_dirty.set()

    async def _watch_tools(self) -> None:
        """The registry's tools changed (a server's list_changed, a restart): tell the model."""
        while True:
            await self._tools_dirty.wait()
            self._tools_dirty = anyio.Event()
            if self.tools.refresh():
                await self._send_tools()

    # -- client -> upstream ---------------------------------------------------------------------

    async def _relay_client(self) -> None:
        receive, forward, allow = self.client.receive, self.outbox.forward, self._rate.allow
        limit = self.settings.max_message_bytes
        while True:
            raw = await receive()
            if type(raw) is str and len(raw) > limit:
                await self.outbox.client(size_error(len(raw), limit))
                self.end(CLOSE_TOO_BIG, "message too big")
                return
            try:
                event = parse_client_event(raw)
            except ClientEventError as exc:
                await self.outbox.client(exc.to_event())
                continue
            kind = event["type"]
            if kind == "input_audio_buffer.append":
                # Unchanged, so the client's own text goes upstream: no re-encoding per audio frame.
                await forward(raw if type(raw) is str and _unambiguous(raw) else event)
                continue
            if not allow():  # answered like any refused event: the client learns which ones were dropped
                rate = self.settings.max_events_per_s
                await self.outbox.client(rate_error(rate, self._rate.refused, event.get("event_id")))
                continue
            try:
                await self._client_event(kind, event)
            except ChannelClosed:
                raise
            except Exception as exc:  # a shape no check foresaw: answered, never a silent end
                logger.warning("could not handle a client %s event: %r", kind, exc, exc_info=True)
                await self.outbox.client(
                    error_event(
                        f"The server could not handle this {kind} event: {type(exc).__name__}.",
                        code="invalid_event",
                        event_id=event.get("event_id") if isinstance(event.get("event_id"), str) else None,
                    )
                )

    async def _client_event(self, kind: str, event: Event) -> None:
        if self.pin is not None and kind in ("response.create", "session.update"):
            if kind == "response.create":
                refusal = self.pin.refuse_response(event)
            else:
                event, refusal = self.pin.hold_update(event)
            if refusal is not None:
                await self.outbox.client(refusal)
                if kind == "response.create":
                    return
        if kind == "response.create":
            if not await self.sequencer.request_client(event):
                limit = self.settings.max_queued_responses
                await self.outbox.client(queue_error(limit, event.get("event_id")))
        elif kind == "session.update":
            await self._client_session_update(event)
        elif kind == "conversation.item.create" and self.approvals.owns(event):
            await self.approvals.answer(event)
        elif kind == "conversation.item.retrieve" and (shown := self.presenter.retrieve(event)) is not None:
            await self.feed.call_events(self.presenter.calls[event["item_id"]].response_id, shown)
        else:
            if kind in ("conversation.item.create", "input_audio_buffer.commit"):
                self.sequencer.client_turn()
            await self.outbox.forward(event)

    async def _client_session_update(self, event: Event) -> None:
        session = event["session"]
        if "tools" in session:  # parse_client_event checked it is a list
            for problem in await self.tools.apply(session["tools"]):
                await self.outbox.client(
                    error_event(
                        problem, code="invalid_value", event_id=event.get("event_id"), param="session.tools"
                    )
                )
            self.steering.sync(self.tools.host_tools)
            self._sent_tools = self.tools.upstream_tools()
            session = {**session, "tools": self._sent_tools}
        if "type" not in session:
            session = {**session, "type": "realtime"}
        event_id = event.get("event_id")
        if not isinstance(event_id, str):
            event_id = new_event_id()  # so a refusal can be matched to it, and its answer not expected
        self.presenter.session_update_sent(event_id, by_client=True)
        await self.outbox.forward({**event, "event_id": event_id, "session": session})

    # -- upstream -> client ---------------------------------------------------------------------

    async def _start_and_relay_upstream(self) -> None:
        if self.pin is not None:  # before any tools go upstream: the pinned ones are the first
            await self._client_session_update(self.pin.first_update())
            self.pin.applied(self.tools.upstream_tools())
        await self._send_tools()
        receive, send_client, feed = self.upstream.receive, self.client.send, self.feed
        observe, drain = self.sequencer.observe, self.sequencer.drain
        # Every step below survives a malformed event: only a closed channel ends this loop.
        while True:
            try:
                event = await receive()
            except ChannelClosed:
                self.end(1011, "upstream unavailable")
                raise
            assert type(event) is dict  # checked where it entered (protocol.shapes)
            kind = event["type"]
            try:
                if kind in _UPSTREAM_PASSTHROUGH:
                    if feed.holding:
                        await feed.upstream(event)
                    else:
                        await send_client(event)
                    continue
                if kind == "response.output_item.done":
                    # First: a call the host runs is the host's to show done, with its output.
                    await self._dispatch(event)
                if not observe(event):
                    await feed.upstream(event)
                await self._act_on(kind, event)
            except ChannelClosed:
                raise
            except Exception as exc:  # a sound shape no code foresaw: dropped; the session goes on
                logger.warning("dropped a malformed upstream %s event (%r): %s", kind, exc, _excerpt(event))
            await drain()

    async def _act_on(self, kind: str, event: Event) -> None:
        """What the host itself does about an upstream event (after the client was shown it)."""
        if kind == "input_audio_buffer.speech_started":
            self.calls.barge_in()
        elif kind == "input_audio_buffer.dtmf_event_received" and isinstance(event.get("event"), str):
            await self.dtmf(event["event"])
        elif kind == "input_audio_buffer.committed" and self.sequencer.awaiting_vad:
            self._vad_commits += 1
            self._spawn(self._vad_grace, self._vad_commits)

    async def _dispatch(self, event: Event) -> None:
        """Start a host call for a completed `function_call` item (never in-progress or cancelled ones)."""
        item = event.get("item") or {}
        if item.get("type") != "function_call" or item.get("status") != "completed":
            return
        item_id, call_id = item.get("id"), item.get("call_id")
        if not isinstance(item_id, str) or not isinstance(call_id, str) or not call_id:
            return
        if item_id in self._dispatched or call_id in self._dispatched_calls:
            return  # one call_id runs once, whatever items repeat it
        if self.sequencer.is_out_of_band(event.get("response_id")):
            return  # its call_id is in no conversation: an output could not be added
        name = str(item.get("name"))
        if self.pin is not None and not self.pin.allows(name) and not self.tools.answers_itself(name):
            self._dispatched_calls.add(call_id)
            await self._refuse_call(call_id, str(item.get("name")))
            return
        view = self.presenter.host_call(item)
        if view is None:
            return  # the client's own tool: it runs it
        self._dispatched.add(item_id)
        self._dispatched_calls.add(call_id)
        index = event.get("output_index")
        output_index = index if isinstance(index, int) else 0
        view.response_id = str(event.get("response_id") or "")
        view.output_index = output_index
        view.owned = True
        if self.questions.owns(view.tool.name):
            await self.questions.answer(view)
            await self.calls.show_done(view, output_index, ok=view.error is None)
        elif self.steering.owns(view.tool.name):
            await self.steering.answer(view)
            await self.calls.show_done(view, output_index, ok=view.error is None)
        elif view.tool.policy.approval and not self.settings.auto_approve:
            if self.presenter.hidden:  # the client is never shown the request: the user is asked aloud
                timeout_s = self.settings.elicitation_timeout_s
                self._spawn(self.approvals.ask_aloud, self.questions, view, output_index, timeout_s)
            else:
                await self.approvals.ask(view, output_index)
        else:
            await self.calls.start(view, output_index, hold=True)

    async def _refuse_call(self, call_id: str, name: str) -> None:
        """A call to a tool the pin did not expose: a tool error, never run, here or by the client."""
        logger.warning("refused a call to %.80s: not among the pinned session's tools", name)
        reason = "the client secret this session was opened with does not allow it"
        output = function_call_output(new_item_id(), call_id, refused_output(name, reason))
        item = await self.outbox.add_item(output)
        await self.sequencer.request_host([item], readback=False)


@asynccontextmanager
async def host_session(
    registry: ToolRegistry,
    upstream: EventChannel,
    client: EventChannel,
    settings: HostSettings | None = None,
    *,
    context: CallContext | None = None,
    observer: SessionObserver | None = None,
) -> AsyncIterator[SessionHost]:
    """Run a `SessionHost` in the background; leaving the block ends the session."""
    host = SessionHost(registry, upstream, client, settings, context=context, observer=observer)
    failure: Exception | None = None
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(host.run)
        try:
            yield host
        except Exception as exc:  # raised as itself, not wrapped in the task group's ExceptionGroup
            failure = exc
        finally:
            task_group.cancel_scope.cancel()
    if failure is not None:
        raise failure


def _excerpt(event: Event) -> str:
    """A short, safe excerpt of an event for a log line (never the whole, possibly huge, event)."""
    try:
        return repr(event)[:160]
    except Exception:  # e.g. nested too deep to repr
        return "<unprintable>"


def _unambiguous(raw: str) -> bool:
    """Whether any JSON parser reads the same `type` from `raw` as we did.

    A duplicated key (or one spelled with escapes) could be read differently upstream, where the
    first key may win; such text is re-encoded from what we parsed instead.
    """
    return "\\" not in raw and raw.count('"type"') == 1
