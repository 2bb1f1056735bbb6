"""Graceful drain: after SIGTERM the process takes nothing new and lets live sessions finish.

`drain_then_stop` runs beside the server (`run.py`): once draining it hands OpenAI calls to other
processes, waits for the live sessions or `drain_s`, closes what is left with 1001, and stops.

`Drain` is the flag (`run.py` sets it on the first SIGTERM; `/readyz` reads it, so the load
balancer stops sending). `DrainGuard` is the ASGI middleware that refuses what would start a
session while it is set: a WebSocket is accepted and closed at once with 1013 "server draining"
(after a GA `error` saying so), an HTTP POST gets 503. GETs (`/healthz`, `/readyz`, `/metrics`)
and everything already running go on.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_voice.protocol.events import error_event

TRY_AGAIN_LATER = 1013
DRAINING_REASON = "server draining"
MESSAGE = "this server is draining (shutting down): connect again, another process will take the session"


class Drain:
    """Whether this process is draining, since when, and for how long live sessions may go on."""

    def __init__(self, drain_s: float = 60.0) -> None:
        self.drain_s = drain_s
        self.since: float | None = None

    @property
    def active(self) -> bool:
        return self.since is not None

    def begin(self) -> None:
        """Start draining (again: no effect). Safe to call from a signal handler."""
        if self.since is None:
            self.since = time.monotonic()

    def remaining_s(self) -> float:
        """Time left before live sessions are closed (the full drain_s until draining starts)."""
        if self.since is None:
            return self.drain_s
        return max(0.0, self.drain_s - (time.monotonic() - self.since))


class DrainGuard:
    """Refuses new sessions while `drain` is active; passes everything else through."""

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.drain.active or scope["type"] not in ("websocket", "http"):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            message = await receive()
            if message["type"] != "websocket.connect":
                return
            await send({"type": "websocket.accept"})
            event = error_event(MESSAGE, code="server_draining", type="server_error")
            await send({"type": "websocket.send", "text": json.dumps(event)})
            await send({"type": "websocket.close", "code": TRY_AGAIN_LATER, "reason": DRAINING_REASON})
            return
        if scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        body = json.dumps({"error": {"message": MESSAGE, "type": "server_error", "code": "server_draining"}})
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"retry-after", b"1"),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body.encode()})


DRAIN_POLL_S = 0.1
"""How often the drain looks at the signal flag and the session count (uvicorn polls as often)."""


async def drain_then_stop(server: Any, app: Any, err: TextIO = sys.stderr) -> None:
    """Once draining: wait for the live sessions to end, or `drain_s`, then stop the server.

    Sessions still open when `drain_s` passes are closed with 1001 and a reason saying so.
    """
    drain: Drain = app.state.drain
    endpoint = app.state.endpoint
    slots = app.state.sessions  # every transport's sessions (serve/slots.py)
    while not drain.active:
        if server.should_exit:
            return
        await anyio.sleep(DRAIN_POLL_S)
    ownership = getattr(app.state, "ownership", None)
    if ownership is not None and app.state.store.url != "memory":  # another process takes the calls
        await ownership.hand_off()
    print(
        f"mcp-voice: draining: {slots.active} live sessions may go on for up to "
        f"{drain.drain_s:g} s; new sessions are refused",
        file=err,
        flush=True,
    )
    while slots.active > 0 and drain.remaining_s() > 0 and not server.should_exit:  # noqa: ASYNC110
        await anyio.sleep(DRAIN_POLL_S)
    if slots.active > 0 and not server.should_exit:
        print(f"mcp-voice: drain_s passed: closing {slots.active} sessions", file=err, flush=True)
        await endpoint.shutdown(DRAIN_EXPIRED)
    server.should_exit = True


DRAIN_EXPIRED = "server draining: drain time passed"
