"""`ServeSettings`: what every session of one serve process shares.

Below the routes: the relay endpoint, Twilio, OpenAI calls and the metrics all read it, and
`app.py` only assembles them, so none of them imports the app.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from mcp_voice.channels import EventChannel
from mcp_voice.protocol.reconnect import ReconnectPolicy
from mcp_voice.serve.openai_calls.settings import CallsSettings
from mcp_voice.serve.twilio.settings import TwilioSettings
from mcp_voice.session.settings import HostSettings
from mcp_voice.sim.config import SimConfig

__all__ = ["ServeSettings", "UpstreamOpener"]

UpstreamOpener = Callable[..., AbstractAsyncContextManager[EventChannel]]
"""`open_upstream`'s shape: `(target, *, model, api_key) -> async context manager of a channel`."""


@dataclass(frozen=True)
class ServeSettings:
    """What every session of one serve process shares. Secrets are kept out of `repr`."""

    upstream: str = "sim"
    model: str = "gpt-realtime"
    api_key: str | None = field(default=None, repr=False)
    """Presented to the upstream only; never sent to a client."""
    token: str | None = field(default=None, repr=False)
    """Clients must present it; None: no auth (loopback only, enforced by `run`)."""
    host: HostSettings = field(default_factory=HostSettings)
    twilio: TwilioSettings | None = None
    """Phone calls (`/twilio/voice`, `/twilio/media`); None: off."""
    calls: CallsSettings = field(default_factory=CallsSettings)
    """OpenAI SIP webhooks and WebRTC calls (off unless a webhook secret / OpenAI key is set)."""
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    """More keys clients may present (with `token`); any key also mints client secrets."""
    event_log_dir: str | None = None
    """Write one JSONL event log per session here (None: off); see `serve/eventlog.py`."""
    event_log_max_bytes: int = 10 * 1024 * 1024
    log_tool_io: bool = False
    """Log tool arguments and results (off: only tool, outcome, duration, bytes)."""
    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)
    """How a session's upstream is reconnected after a drop, and rolled over before its time limit."""
    sim: SimConfig = field(default_factory=SimConfig)
    """The embedded upstream (`sim`, `local`): its voice and, for `local`, its chat model."""
    max_sessions: int | None = 1000
    """Concurrent sessions; one more gets an `error` and close 1013 (None: no limit)."""
    allowed_hosts: tuple[str, ...] = ()
    """`Host` names served besides the bound address, the loopback names and the public URL's host
    (`*`: any, when a proxy in front checks it); others get 403 (DNS rebinding)."""
    allowed_origins: tuple[str, ...] = ()
    """Origins of web pages allowed to call serve besides its own (`https://app.example.com`; `*`: any)."""
    max_body_bytes: int | None = 1 << 20
    """Largest HTTP request body, enforced while it streams, before any signature check (None: no limit)."""
    state: str = field(default="memory", repr=False)
    """Where state shared across processes lives: "memory" or a redis:// URL (`serve/state/`)."""
    drain_s: float = 60.0
    """After SIGTERM, how long live sessions may go on before they are closed with 1001."""
    lease_s: float = 10.0
    """How long a call's ownership lease lasts unrenewed: a dead owner's calls move within it."""
    console: bool = True
    """Serve the web console at `GET /` (`serve/console.py`); False: no console routes."""
