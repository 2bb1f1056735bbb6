"""A session opened with a client secret gets the config the secret was minted with, and keeps it.

The backend that minted the secret chose the instructions, voice and tools; the browser holding
it must not widen them. `PinnedClientChannel` wraps the client channel: the host first receives a
`session.update` carrying the pinned config (so it goes through the host like any client update:
tools expanded, sent upstream, `session.updated` back to the client), and later client updates
lose the pinned fields, with an `error` event naming what was kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from mcp_voice.channels import Event, EventChannel
from mcp_voice.protocol.events import error_event

NOT_PINNED = frozenset({"type", "model"})
"""`model` picks the upstream connection (applied by the endpoint), not a session field."""


class PinnedClientChannel:
    """The client channel with a secret's session config applied first and held fixed."""

    def __init__(self, inner: EventChannel, session: Mapping[str, Any]) -> None:
        self._inner = inner
        self._pinned = {k: v for k, v in session.items() if k not in NOT_PINNED}
        self._started = not self._pinned

    async def send(self, event: Event | str) -> None:
        await self._inner.send(event)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def receive(self) -> Event | str:
        if not self._started:
            self._started = True
            session = {"type": "realtime", **self._pinned}
            return {"type": "session.update", "event_id": "event_pinned_session", "session": session}
        while True:
            raw = await self._inner.receive()
            # Audio appends (most traffic) never contain the quoted type: only updates are parsed.
            if type(raw) is str and '"session.update"' not in raw:
                return raw
            event = raw if isinstance(raw, dict) else _parse(raw)
            if (
                event is None
                or event.get("type") != "session.update"
                or not isinstance(event.get("session"), dict)
            ):
                return raw
            return await self._hold(event)

    async def _hold(self, event: Event) -> Event:
        session = event["session"]
        changed = sorted(k for k in session if k in self._pinned and session[k] != self._pinned[k])
        if changed:
            await self._inner.send(
                error_event(
                    f"{', '.join(changed)} cannot be changed: fixed by the client secret this session "
                    "was opened with",
                    code="pinned_by_client_secret",
                    event_id=event.get("event_id"),
                    param="session." + changed[0],
                )
            )
        kept = {k: v for k, v in session.items() if k not in self._pinned}
        return {**event, "session": kept}


def _parse(raw: str) -> Event | None:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
