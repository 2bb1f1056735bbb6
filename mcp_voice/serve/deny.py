"""One way to refuse a request before any route runs: an HTTP status with the reason as text.

Used by the edge middlewares (Host/Origin, body size) and the WebSocket not-found answer. A
WebSocket is refused with an HTTP response before the upgrade when the server supports it (uvicorn
does), so clients see 403/404/413 and the reason, not a bare close.
"""

from __future__ import annotations

from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

POLICY_VIOLATION = 1008
MAX_SHOWN_CHARS = 100
"""Caller-supplied values quoted in a reason (a Host, an Origin) are cut to this many characters."""


def shown(value: str, limit: int = MAX_SHOWN_CHARS) -> str:
    """A caller-supplied string as it may appear in a reply or a log line: bounded, repr-quoted."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


async def deny(scope: Scope, receive: Receive, send: Send, status: int, reason: str) -> None:
    """Answer `status` with `reason` (one line) on an HTTP request or a WebSocket handshake."""
    body = reason.rstrip("\n") + "\n"
    headers = {"connection": "close"} if status == 413 else None
    response = PlainTextResponse(body, status_code=status, headers=headers)
    if scope["type"] == "websocket":
        websocket = WebSocket(scope, receive, send)
        if "websocket.http.response" in scope.get("extensions", {}):
            await websocket.send_denial_response(response)
        else:
            await websocket.close(code=POLICY_VIOLATION, reason=reason[:120])
        return
    await response(scope, receive, send)


async def websocket_not_found(scope: Scope, receive: Receive, send: Send) -> None:
    """The router's default: a WebSocket to an unknown path gets 404 (Starlette's close reads as 403)."""
    if scope["type"] == "websocket":
        await deny(scope, receive, send, 404, f"no WebSocket endpoint at {scope.get('path', '')[:200]}")
        return
    await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
