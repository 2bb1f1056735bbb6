"""The sample server over streamable HTTP: `python http_sample.py PORT`.

Requires a bearer token (`$SAMPLE_TOKEN`) when set, so tests can check that a spec's headers
reach the server.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import uvicorn
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from tests.tools.servers.sample import build_server


async def require_token(request: Request, call_next) -> Response:  # type: ignore[no-untyped-def]
    token = os.environ.get("SAMPLE_TOKEN")
    if token and request.headers.get("authorization") != f"Bearer {token}":
        return PlainTextResponse("unauthorized", status_code=401)
    return await call_next(request)


if __name__ == "__main__":
    server = build_server()
    app = server.streamable_http_app()
    app.add_middleware(BaseHTTPMiddleware, dispatch=require_token)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="info")
