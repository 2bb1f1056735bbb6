"""Request bodies bounded while they stream, before any route (and so any signature check) reads them.

A webhook route must read its body to check the signature over it; unbounded, one unsigned
200 MiB POST costs hundreds of MiB before it is refused. `BodyLimit` refuses a declared
`Content-Length` over the limit at once, and counts a chunked (or lying) body as it arrives,
answering 413 and reading no further at the limit. What fits is handed on unchanged. A body that
trickles in slower than `BODY_TIMEOUT_S` gets 408.
"""

from __future__ import annotations

import anyio
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_voice.serve.deny import deny

BODY_TIMEOUT_S = 30.0


class BodyLimit:
    """ASGI middleware: HTTP request bodies of at most `max_bytes` (None: no limit)."""

    def __init__(self, app: ASGIApp, max_bytes: int | None, timeout_s: float = BODY_TIMEOUT_S) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.max_bytes is None:
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        too_large = (
            f"request body too large: this server takes at most {limit} bytes ([serve] max_body_bytes)"
        )
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await deny(scope, receive, send, 413, too_large)
            return
        chunks: list[bytes] = []
        size = 0
        with anyio.move_on_after(self.timeout_s) as waited:
            while True:
                message = await receive()
                if message["type"] != "http.request":  # the client left: nothing to answer
                    return
                body = message.get("body", b"")
                size += len(body)
                if size > limit:
                    await deny(scope, receive, send, 413, too_large)
                    return
                chunks.append(body)
                if not message.get("more_body", False):
                    break
        if waited.cancelled_caught:
            await deny(scope, receive, send, 408, f"request body not received within {self.timeout_s:.0f} s")
            return
        await self.app(scope, _replay(b"".join(chunks), receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` giving the whole body once, then what the server says next (a disconnect)."""
    given = False

    async def replayed() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
