"""The web console at `GET /`: a page that talks to this serve's relay from a browser.

The page is plain ES modules and AudioWorklets shipped as package data (`serve/console/`): no
CDN and no build step. Every response carries a strict Content-Security-Policy (scripts, styles
and workers from this origin only, sockets to this origin only), so a page that injected text
into the transcript could not run it. `GET /console/info.json` tells the page what it needs
before connecting (whether a key is required, whether WebRTC is on); it never carries a secret.
"""

from __future__ import annotations

import mimetypes
from importlib import resources
from importlib.abc import Traversable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from mcp_voice.serve.settings import ServeSettings
from mcp_voice.serve.targets import display_name

STATIC_PREFIX = "/console/"
_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml"}


def content_security_policy(request: Request) -> str:
    """Same origin for everything; images also as `data:` (tool results carry them inline)."""
    scheme = "wss" if request.url.scheme == "https" else "ws"
    netloc = request.url.netloc
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            "media-src 'self' blob:",
            "worker-src 'self'",
            f"connect-src 'self' {scheme}://{netloc}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def _files() -> Traversable:
    return resources.files("mcp_voice.serve").joinpath("console")


def _serve_file(request: Request, name: str) -> Response:
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return Response("not found\n", status_code=404, media_type="text/plain")
    path = _files().joinpath(name)
    if not path.is_file():
        return Response("not found\n", status_code=404, media_type="text/plain")
    suffix = name[name.rfind(".") :]
    media = _TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    headers = {
        "Content-Security-Policy": content_security_policy(request),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
        "Permissions-Policy": "microphone=(self)",
    }
    return Response(path.read_bytes(), media_type=media, headers=headers)


def console_routes(settings: ServeSettings) -> list[BaseRoute]:
    """`/`, the page's files under `/console/`, and its info; none when `[serve] console = false`."""
    if not settings.console:
        return []
    keys = bool(settings.api_keys or settings.token)

    async def index(request: Request) -> Response:
        return _serve_file(request, "index.html")

    async def static(request: Request) -> Response:
        return _serve_file(request, request.path_params["name"])

    async def info(request: Request) -> Response:
        return JSONResponse(
            {
                "auth": keys,
                "upstream": display_name(settings.upstream),
                "model": settings.model,
                "webrtc": settings.calls.webrtc_off is None,
            },
            headers={"Cache-Control": "no-store"},
        )

    return [
        Route("/", index, methods=["GET", "HEAD"]),
        Route(STATIC_PREFIX + "info.json", info, methods=["GET"]),
        Route(STATIC_PREFIX + "{name}", static, methods=["GET", "HEAD"]),
    ]
