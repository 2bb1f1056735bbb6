"""CallDecision: what to do with an incoming phone call, answered by the `incoming_call` hook.

OpenAI SIP offers each call with a `realtime.call.incoming` webhook; before anyone hears a word,
the server must accept it (with a session config), reject it (with a SIP status) or refer it
elsewhere. A plugin decides by returning one of these; with no answer the call is accepted with
the configured session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Action = Literal["accept", "reject", "refer"]
DEFAULT_REJECT_STATUS = 603
"""SIP 603 Decline, OpenAI's default for `/reject` without a status."""
TRANSFER_SCHEMES = ("tel:", "sip:", "sips:")


@dataclass(frozen=True)
class CallDecision:
    """One of `CallDecision.accept(...)`, `.reject(...)`, `.refer(...)`."""

    action: Action
    session: Mapping[str, Any] = field(default_factory=dict)
    """accept: session config fields that replace the configured defaults (`instructions`,
    `audio`, `model`, ...); `tools` listed here are added to the host's tools."""
    status_code: int = DEFAULT_REJECT_STATUS
    """reject: the SIP status the caller gets (486 Busy Here, 603 Decline, ...)."""
    target_uri: str | None = None
    """refer: where the call goes (`tel:+14155550123`, `sip:desk@example.com`)."""

    def __post_init__(self) -> None:
        if self.action == "refer" and not valid_transfer_target(self.target_uri):
            raise ValueError(f"refer needs a tel: or sip: target_uri, not {self.target_uri!r}")
        if self.action == "reject" and not 400 <= self.status_code <= 699:
            raise ValueError(f"a SIP rejection status is 400-699, not {self.status_code}")

    @classmethod
    def accept(cls, session: Mapping[str, Any] | None = None) -> CallDecision:
        return cls("accept", session=dict(session or {}))

    @classmethod
    def reject(cls, status_code: int = DEFAULT_REJECT_STATUS) -> CallDecision:
        return cls("reject", status_code=status_code)

    @classmethod
    def refer(cls, target_uri: str) -> CallDecision:
        return cls("refer", target_uri=target_uri)


def valid_transfer_target(uri: object) -> bool:
    """A `tel:` or `sip:`/`sips:` URI with something after the scheme and no whitespace."""
    return (
        isinstance(uri, str)
        and uri.lower().startswith(TRANSFER_SCHEMES)
        and len(uri.partition(":")[2]) > 0
        and not any(ch.isspace() for ch in uri)
    )
