"""`POST /v1/realtime/client_secrets`: a backend holding an API key mints a browser's secret."""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from mcp_voice.serve.client_secrets import SecretRequestError, mint, parse_request
from mcp_voice.serve.keys import Authenticator, authenticate
from mcp_voice.serve.state import StateUnavailable

log = logging.getLogger("mcp_voice.serve")


def api_error(
    status: int, message: str, *, type: str, code: str | None = None, param: str | None = None
) -> Response:
    """An error body shaped like OpenAI's REST errors, so SDK clients show the message."""
    body = {"error": {"message": message, "type": type, "code": code, "param": param}}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def unauthorized(what: str = "an API key") -> Response:
    return api_error(
        401,
        f"invalid or missing credentials: send {what} as Authorization: Bearer <key>",
        type="invalid_request_error",
        code="invalid_api_key",
    )


def secret_routes(default_model: str) -> list[BaseRoute]:
    """The routes to add to the serve app (one line in `create_app`)."""

    async def client_secrets(request: Request) -> Response:
        credential = await authenticate(request, secrets=False)
        if credential is None:
            return unauthorized()
        try:
            raw = await request.body()
            body: Any = json.loads(raw) if raw.strip() else {}
        except (json.JSONDecodeError, UnicodeDecodeError):
            return api_error(400, "the request body is not valid JSON", type="invalid_request_error")
        try:
            ttl, session = parse_request(body)
        except SecretRequestError as exc:
            return api_error(400, str(exc), type="invalid_request_error", param=exc.param)
        authenticator: Authenticator = request.app.state.authenticator
        try:
            answer = await mint(authenticator.store, ttl, session, default_model=default_model)
        except StateUnavailable as exc:
            log.warning("client secret not minted: %s", exc)
            return api_error(503, f"cannot keep a client secret now: {exc}", type="server_error")
        log.info("client secret minted (by %s, ttl %d s)", credential.key_id or credential.kind, ttl)
        return JSONResponse(answer)

    return [Route("/v1/realtime/client_secrets", client_secrets, methods=["POST"])]
