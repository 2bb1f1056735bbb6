"""How serve takes Twilio phone calls: the public URL Twilio reaches it at, and the auth token.

Phone calls are on once a public base URL is known (`[twilio] public_url` or `--public-url`):
Twilio has to be told where to stream, and a signature is computed over the URL Twilio called,
not the loopback address serve sees behind a tunnel. The auth token, like every secret, comes
from the environment (`TWILIO_AUTH_TOKEN`, or the variable `[twilio] auth_token_env` names).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

DEFAULT_AUTH_TOKEN_ENV = "TWILIO_AUTH_TOKEN"
VOICE_PATH = "/twilio/voice"
MEDIA_PATH = "/twilio/media"


class TwilioConfigError(Exception):
    """Phone calls were asked for but cannot be served as configured."""


@dataclass(frozen=True)
class TwilioSettings:
    """Phone-call settings shared by every call of one serve process. The token stays out of `repr`."""

    public_url: str
    """The base URL Twilio reaches serve at (`https://abc.example.com`), without a trailing slash."""
    auth_token: str | None = field(default=None, repr=False)
    """None: webhooks and streams are not verified (serve warns at start)."""
    greeting: str | None = None
    """Instructions for a first response as soon as the call connects; None: wait for the caller."""

    @property
    def voice_url(self) -> str:
        """The URL to paste into the Twilio console ("A call comes in": Webhook, HTTP POST)."""
        return self.public_url + VOICE_PATH

    @property
    def media_url(self) -> str:
        """The `<Stream url>` the TwiML answer points Twilio at."""
        parts = urlsplit(self.public_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit((scheme, parts.netloc, parts.path + MEDIA_PATH, "", ""))


def check_public_url(url: str) -> str:
    """`url` without a trailing slash; raises unless it is an absolute http(s) URL with no query."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise TwilioConfigError(
            f"the public URL must look like https://HOST (the address Twilio reaches serve at), got {url!r}"
        )
    if parts.query or parts.fragment:
        raise TwilioConfigError(f"the public URL must not carry a query or fragment, got {url!r}")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def resolve_twilio(
    config: Any, *, public_url: str | None = None, env: Mapping[str, str] = os.environ
) -> TwilioSettings | None:
    """`--public-url` over `[twilio] public_url`; None when neither is set (no phone routes)."""
    table = getattr(config, "twilio", None)
    url = public_url or getattr(table, "public_url", None)
    if not url:
        return None
    try:
        import twilio  # noqa: F401  (the signature check and the TwiML come from the Twilio library)
    except ImportError:
        raise TwilioConfigError(
            "phone calls need the Twilio library: pip install 'mcp-voice[twilio]'"
        ) from None
    token_env = getattr(table, "auth_token_env", None)
    if token_env:
        token = env.get(token_env, "")
        if not token:
            raise TwilioConfigError(f"the Twilio auth token variable {token_env} is not set (or empty)")
    else:
        token = env.get(DEFAULT_AUTH_TOKEN_ENV, "")
    return TwilioSettings(
        public_url=check_public_url(url),
        auth_token=token or None,
        greeting=getattr(table, "greeting", None) or None,
    )


def startup_notes(settings: TwilioSettings | None) -> list[str]:
    """What serve prints to stderr at start about phone calls (a loud warning when unverified)."""
    if settings is None:
        return []
    notes = [f"phone calls: point the Twilio number's voice webhook at POST {settings.voice_url}"]
    if settings.auth_token is None:
        notes.append(
            f"WARNING: Twilio webhooks are NOT verified: anyone who can reach {settings.public_url} can "
            f"place calls through this server (and use its tools). Set {DEFAULT_AUTH_TOKEN_ENV} to the "
            "account's auth token."
        )
    return notes
