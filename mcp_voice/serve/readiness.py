"""`GET /readyz`: may a load balancer send this process new sessions? (`/healthz` is liveness.)

Ready means: not draining, below `max_sessions`, and the state store answers. Otherwise 503 with
every reason, so an operator reading it (or nginx's / Kubernetes' logs) knows which one.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mcp_voice.serve.drain import Drain
from mcp_voice.serve.slots import SessionSlots
from mcp_voice.serve.state import StateStore, StateUnavailable


def readiness_route(state: StateStore, drain: Drain, slots: SessionSlots) -> Route:
    async def readyz(request: Request) -> JSONResponse:
        reasons: list[str] = []
        live = slots.active
        if drain.active:
            reasons.append(f"draining: live sessions end within {drain.remaining_s():.0f} s")
        if slots.full:
            reasons.append(f"full: {live} of {slots.limit} sessions")
        try:
            await state.ping()
        except StateUnavailable as exc:
            reasons.append(str(exc))
        body = {
            "status": "unavailable" if reasons else "ready",
            "reasons": reasons,
            "sessions": live,
            "draining": drain.active,
            "state": state.url,
        }
        return JSONResponse(body, status_code=503 if reasons else 200)

    return Route("/readyz", readyz, methods=["GET"])
