"""HostSettings: how one session treats tools, calls, phone keys and limits (the `[session]` table).

Kept apart from the host so transports and the CLI can build settings without the host's wiring.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mcp_voice.session.dtmf import DtmfAction


@dataclass(frozen=True)
class HostSettings:
    """How one session treats tools (the `[session]` table of the config)."""

    register_plugin_tools: bool = True
    """False: clients opt in with `mcp_server` / `mcp` entries in `session.tools`."""
    async_mode: Literal["placeholder", "deferred"] = "placeholder"
    progress_updates: bool = True
    progress_interval_s: float = 5.0
    """Rate limit for the progress notes injected while a long-running call runs."""
    auto_approve: bool = False
    allow_client_servers: bool = True
    """Whether a client's `mcp_server` entry naming an unknown http(s) URL makes the host connect to
    it. Turn off when serving clients you don't trust with outbound requests from this machine."""
    dtmf: DtmfAction = field(default_factory=DtmfAction)
    """What a keypad press on a phone call does (Twilio `dtmf`, SIP `dtmf_event_received`)."""
    client_server_urls: tuple[str, ...] = ()
    """URL patterns a client's `mcp_server` may name (empty: only the host's own servers)."""
    client_server_headers: tuple[str, ...] = ()
    """URL patterns to which a client's `mcp_server` headers are passed."""
    client_server_timeout_s: float = 5.0
    host_calls: Literal["mcp", "hidden"] = "mcp"
    """How the client sees host calls: as hosted-MCP `mcp_call` items, or not at all (for GA
    clients that only know function calls); per connection with `?host_calls=hidden`."""
    max_session_calls: int = 3
    """Host calls one session runs at once (more wait their turn). Below the servers'
    `max_concurrency` (4 by default), so one session always leaves a server slot to the others."""
    max_queued_responses: int = 16
    """Client `response.create` requests waiting behind an active response; more get an `error`."""
    readback_wait_s: float = 0.25
    """How long the host's first read-back of a call the client saw end waits for the client's own
    `response.create` (it learns whether the client asks; see session/sequencer.py). 0: never."""
    max_events_per_s: float = 50.0
    """Client control events a second (bursts of twice that): everything but audio appends, which
    pass straight through (bounded by `max_message_bytes` and the upstream's own pace)."""
    max_message_bytes: int = 16 * 2**20
    """A bigger client message gets an `error`, then close 1009. Realtime allows 15 MiB of audio."""
    elicitation_timeout_s: float = 120.0
    """A question a tool asks the user (elicitation) that has no answer by then is declined."""
    max_result_chars: int = 100_000
    """A tool result injected into the conversation is cut to this many characters, saying so."""
    pinned_session: Mapping[str, Any] | None = None
    """A session config fixed by whoever opened the session (a client secret's): applied first,
    then held on every client event, and only its tools may be called (see `session/pin.py`)."""
    running_calls_tool: bool = True
    """With long-running work in the session, the model may list the running calls
    (`mcp_voice__running_calls`; session/steering.py)."""
    cancel_call_tool: bool = True
    """With long-running work in the session, the model may cancel a running call
    (`mcp_voice__cancel_call`)."""
