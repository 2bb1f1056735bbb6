"""Observability of a serve process: Prometheus metrics, structured log lines, per-session event logs.

Nothing here edits the session host: it watches from the outside, through
- a `SessionObserver` (session start / end, duration, reason),
- the registry's `ToolEvent` listener (tool calls: tool, outcome, duration, result bytes),
- taps around the client and upstream `EventChannel`s (errors sent to the client, token usage
  from `response.done`, the last `rate_limits.updated`, and the optional JSONL event log).

Log lines are `key=value` pairs after a fixed message, one per session start/end and per tool call;
arguments and results appear only with `log_tool_io`. Metrics live in a registry of their own per
app (so several apps in one process never collide) and are served at `GET /metrics`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mcp_voice.channels import Event, EventChannel
from mcp_voice.serve.eventlog import EventLog
from mcp_voice.serve.keys import authenticate
from mcp_voice.session.context import META_CALL, CallContext, SessionObserver
from mcp_voice.tools.spec import ToolEvent

if TYPE_CHECKING:
    from mcp_voice.serve.settings import ServeSettings
    from mcp_voice.tools.registry import ToolRegistry

log = logging.getLogger("mcp_voice.serve")
tool_log = logging.getLogger("mcp_voice.serve.tools")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
_ENDINGS = {"finished": "ok", "failed": "error", "cancelled": "cancelled"}


def fields(**values: Any) -> str:
    """`key=value` pairs, values quoted when they contain spaces (log lines stay grep-able)."""
    parts = []
    for key, value in values.items():
        if value is None:
            continue
        text = f"{value:.3f}" if isinstance(value, float) else str(value)
        if not text or any(c in text for c in ' "='):
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)


@dataclass
class _Call:
    started: float
    tool: str
    session_id: str | None


class ServeMetrics:
    """The counters of one serve app, and the observers that feed them."""

    def __init__(self, registry: ToolRegistry | None = None, *, log_tool_io: bool = False) -> None:
        self.log_tool_io = log_tool_io
        self.prometheus = CollectorRegistry()
        r = self.prometheus
        self.sessions = Counter("mcp_voice_sessions", "Sessions started", ["transport"], registry=r)
        self.sessions_active = Gauge("mcp_voice_sessions_active", "Sessions running now", registry=r)
        self.session_seconds = Histogram(
            "mcp_voice_session_duration_seconds",
            "Session length",
            ["reason"],
            registry=r,
            buckets=(1, 10, 30, 60, 300, 900, 1800, 3600, 7200),
        )
        self.tool_calls = Counter("mcp_voice_tool_calls", "Tool calls", ["tool", "outcome"], registry=r)
        self.tool_seconds = Histogram(
            "mcp_voice_tool_call_duration_seconds",
            "Tool call latency",
            ["tool", "outcome"],
            registry=r,
            buckets=LATENCY_BUCKETS,
        )
        self.reconnects = Counter("mcp_voice_reconnects", "Upstream reconnects", ["reason"], registry=r)
        self.errors_sent = Counter(
            "mcp_voice_errors_sent", "error events sent to clients", ["code"], registry=r
        )
        self.tokens = Counter("mcp_voice_tokens", "Token usage from response.done", ["kind"], registry=r)
        self.rate_limit_remaining = Gauge(
            "mcp_voice_rate_limit_remaining", "Last rate_limits.updated: remaining", ["name"], registry=r
        )
        self.rate_limit_limit = Gauge(
            "mcp_voice_rate_limit_limit", "Last rate_limits.updated: limit", ["name"], registry=r
        )
        self._calls: dict[str, _Call] = {}
        self._call_sessions: dict[str, str] = {}
        self._started: dict[str, float] = {}
        if registry is not None:
            registry.add_event_listener(self.tool_event)

    # -- what other parts call --------------------------------------------------------------------

    def record_reconnect(self, reason: str = "upstream_closed") -> None:
        """Count one upstream reconnect (the reconnect wrapper calls this)."""
        self.reconnects.labels(reason=reason).inc()

    def render(self) -> bytes:
        return generate_latest(self.prometheus)

    # -- sessions -----------------------------------------------------------------------------------

    def observer(self, inner: SessionObserver | None = None) -> SessionObserver:
        """A `SessionObserver` that records, logs, then tells `inner` (the plugins' hooks)."""
        return _SessionRecorder(self, inner)

    def session_started(self, context: CallContext) -> None:
        self._started[context.session_id] = time.monotonic()
        self.sessions.labels(transport=context.transport).inc()
        self.sessions_active.inc()
        log.info(
            "session started %s",
            fields(
                session_id=context.session_id,
                transport=context.transport,
                model=context.extra.get("model"),
                upstream=context.extra.get("upstream"),
            ),
        )

    def session_ended(self, context: CallContext, reason: str) -> None:
        began = self._started.pop(context.session_id, None)
        duration = time.monotonic() - began if began is not None else 0.0
        self.sessions_active.dec()
        self.session_seconds.labels(reason=reason).observe(duration)
        for call_id in [c for c, s in self._call_sessions.items() if s == context.session_id]:
            del self._call_sessions[call_id]
        log.info(
            "session ended %s",
            fields(
                session_id=context.session_id, transport=context.transport, duration_s=duration, reason=reason
            ),
        )

    # -- tool calls ---------------------------------------------------------------------------------

    def tool_event(self, event: ToolEvent) -> None:
        key = event.call_id or ""
        if event.kind == "started" and event.tool:
            session_id = self._call_sessions.get(key) or _session_of(event)
            self._calls[key] = _Call(time.monotonic(), event.tool, session_id)
            if self.log_tool_io:
                tool_log.info(
                    "tool call arguments %s",
                    fields(
                        tool=event.tool, call_id=event.call_id, arguments=repr(event.detail.get("arguments"))
                    ),
                )
            return
        outcome = _ENDINGS.get(event.kind)
        if outcome is None:
            return
        call = self._calls.pop(key, None)
        tool = event.tool or (call.tool if call else "unknown")
        duration = time.monotonic() - call.started if call else 0.0
        self.tool_calls.labels(tool=tool, outcome=outcome).inc()
        self.tool_seconds.labels(tool=tool, outcome=outcome).observe(duration)
        if not tool_log.isEnabledFor(logging.INFO):
            return
        error = event.detail.get("kind") if outcome == "error" else None
        tool_log.info(
            "tool call %s",
            fields(
                session_id=call.session_id if call else None,
                tool=tool,
                call_id=event.call_id,
                outcome=outcome,
                error=error,
                duration_ms=duration * 1000,
                bytes=event.detail.get("bytes"),
            ),
        )

    # -- channel taps -------------------------------------------------------------------------------

    def tap(
        self,
        context: CallContext,
        upstream: EventChannel,
        client: EventChannel,
        settings: ServeSettings,
        model: str,
    ) -> tuple[EventChannel, EventChannel]:
        """Wrap a session's two channels so what crosses them is counted (and logged if asked)."""
        event_log = EventLog.open(settings.event_log_dir, context, settings.event_log_max_bytes, model=model)
        watched_upstream = _Tap(upstream, self, context, "upstream", event_log)
        watched_client = _Tap(client, self, context, "client", event_log)
        return watched_upstream, watched_client

    def _from_upstream(self, context: CallContext, event: Event) -> None:
        # The shapes read here (`response`, `usage`, `item` objects, `rate_limits` an array of
        # objects) were checked where the event entered (protocol.shapes); values are checked here.
        kind = event["type"]
        if kind == "response.done":
            usage = event.get("response", {}).get("usage") or {}
            for name in ("input_tokens", "output_tokens"):
                value = usage.get(name)
                if type(value) is int and value > 0:
                    self.tokens.labels(kind=name.removesuffix("_tokens")).inc(value)
        elif kind == "rate_limits.updated":
            for limit in event.get("rate_limits", ()):
                if not isinstance(limit.get("name"), str):
                    continue
                if isinstance(limit.get("remaining"), int | float):
                    self.rate_limit_remaining.labels(name=limit["name"]).set(limit["remaining"])
                if isinstance(limit.get("limit"), int | float):
                    self.rate_limit_limit.labels(name=limit["name"]).set(limit["limit"])
        elif kind == "response.output_item.done":
            item = event.get("item", {})
            if item.get("type") == "function_call" and isinstance(item.get("call_id"), str):
                self._call_sessions[item["call_id"]] = context.session_id

    def _to_client(self, event: Event) -> None:
        if event.get("type") == "error":
            code = (event.get("error") or {}).get("code") or "none"
            self.errors_sent.labels(code=str(code)).inc()

    def _to_upstream(self, context: CallContext, event: Event) -> None:
        if not self.log_tool_io or event.get("type") != "conversation.item.create":
            return
        item = event.get("item") or {}
        if item.get("type") == "function_call_output":
            tool_log.info(
                "tool call result %s",
                fields(session_id=context.session_id, call_id=item.get("call_id"), output=item.get("output")),
            )


def _session_of(event: ToolEvent) -> str | None:
    """The session a call belongs to, from the call context the host sends with it (any transport:
    phone and SIP sessions have no upstream tap to learn it from)."""
    meta = event.detail.get("meta")
    context = meta.get(META_CALL) if isinstance(meta, Mapping) else None
    session_id = context.get("session_id") if isinstance(context, Mapping) else None
    return session_id if isinstance(session_id, str) else None


class _SessionRecorder:
    def __init__(self, metrics: ServeMetrics, inner: SessionObserver | None) -> None:
        self._metrics = metrics
        self._inner = inner

    def session_started(self, context: CallContext) -> None:
        self._metrics.session_started(context)
        if self._inner is not None:
            self._inner.session_started(context)

    def session_ended(self, context: CallContext, reason: str) -> None:
        self._metrics.session_ended(context, reason)
        if self._inner is not None:
            self._inner.session_ended(context, reason)

    def __getattr__(self, name: str) -> Any:
        # Other hooks the inner observer offers (the SIP calls' `incoming_call` decider) stay reachable.
        if self._inner is None:
            raise AttributeError(name)
        return getattr(self._inner, name)


class _Tap:
    """An `EventChannel` that shows what crosses it to the metrics and the event log."""

    def __init__(
        self,
        inner: EventChannel,
        metrics: ServeMetrics,
        context: CallContext,
        side: str,
        event_log: EventLog | None,
    ) -> None:
        self._inner = inner
        self._metrics = metrics
        self._context = context
        self._side = side
        self._log = event_log

    async def send(self, event: Event | str) -> None:
        await self._inner.send(event)
        if type(event) is dict:
            if self._side == "client":
                self._metrics._to_client(event)
            else:
                self._metrics._to_upstream(self._context, event)
        if self._log is not None:
            self._log.write("to_" + self._side, event)

    async def receive(self) -> Event | str:
        event = await self._inner.receive()
        if self._side == "upstream" and type(event) is dict:
            self._metrics._from_upstream(self._context, event)
        if self._log is not None:
            self._log.write("from_" + self._side, event)
        return event

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def metrics_routes(metrics: ServeMetrics) -> list[BaseRoute]:
    """`GET /metrics`: Prometheus text; an API key is required whenever keys are configured."""

    async def endpoint(request: Request) -> Response:
        from mcp_voice.serve.secret_routes import unauthorized

        if await authenticate(request, secrets=False) is None:
            return unauthorized()
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", endpoint, methods=["GET"])]
