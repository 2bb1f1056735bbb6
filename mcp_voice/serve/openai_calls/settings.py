"""What serve needs to take OpenAI calls: the webhook key, the OpenAI key, URLs, the session to accept with.

Built once from the config's `[openai_calls]` table and the environment by `calls_settings`.
Secrets are kept out of `repr`, and the reasons a part is off are kept as text for serve to say.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mcp_voice.protocol.openai_calls import base_url, websocket_base_url
from mcp_voice.serve.auth import AuthConfigError
from mcp_voice.serve.openai_calls.webhooks import secret_key


@dataclass(frozen=True)
class CallsSettings:
    """Off by default: `webhook_key` and `api_key` turn the parts on."""

    webhook_key: bytes | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    rest_base: str = "https://api.openai.com/v1"
    ws_base: str = "wss://api.openai.com/v1"
    model: str | None = None
    instructions: str | None = None
    voice: str | None = None
    approval: Literal["auto", "refuse"] = "refuse"
    webrtc: bool = True
    secret_env: str = "OPENAI_WEBHOOK_SECRET"
    key_env: str = "OPENAI_API_KEY"
    configured: bool = False
    """The config has an `[openai_calls]` table: a part that is off then deserves a warning."""

    @property
    def webhook_off(self) -> str | None:
        """Why `POST /openai/webhook` is off, or None when it is on."""
        if self.webhook_key is None:
            return f"no webhook secret: set {self.secret_env} (or [openai_calls] webhook_secret)"
        if self.api_key is None:
            return f"no OpenAI key to answer calls with: set {self.key_env}"
        return None

    @property
    def webrtc_off(self) -> str | None:
        """Why `POST /v1/realtime/calls` is off, or None when it is on."""
        if not self.webrtc:
            return "turned off ([openai_calls] webrtc = false)"
        if self.api_key is None:
            return f"no OpenAI key to create calls with: set {self.key_env}"
        return None

    def accept_session(self, default_model: str, tools: list[dict[str, Any]]) -> dict[str, Any]:
        """The session a call is accepted (or a WebRTC call created) with, before a plugin's changes."""
        session: dict[str, Any] = {"type": "realtime", "model": self.model or default_model}
        if self.instructions:
            session["instructions"] = self.instructions
        if self.voice:
            session["audio"] = {"output": {"voice": self.voice}}
        if tools:
            session["tools"] = tools
        return session


def calls_settings(config: Any, env: Mapping[str, str] = os.environ) -> CallsSettings:
    """`[openai_calls]` (absent: defaults) with the secrets read from the environment.

    Raises `AuthConfigError` for a `whsec_` secret that is not base64: serve refuses to start with it.
    """
    table = getattr(config, "openai_calls", None)
    values: dict[str, Any] = table.model_dump() if table is not None else {}
    secret_env = values.get("webhook_secret_env") or "OPENAI_WEBHOOK_SECRET"
    key_env = values.get("api_key_env") or "OPENAI_API_KEY"
    literal = values.get("webhook_secret")
    secret = env.get(secret_env) or (literal.get_secret_value() if literal is not None else None)
    rest = base_url(env, values.get("base_url"))
    try:
        webhook_key = secret_key(secret) if secret else None
    except ValueError as exc:
        raise AuthConfigError(f"{secret_env}: {exc}") from None
    return CallsSettings(
        webhook_key=webhook_key,
        api_key=env.get(key_env) or None,
        rest_base=rest,
        ws_base=websocket_base_url(rest, values.get("websocket_base_url")),
        model=values.get("model"),
        instructions=values.get("instructions"),
        voice=values.get("voice"),
        approval=values.get("approval", "refuse"),
        webrtc=values.get("webrtc", True),
        secret_env=secret_env,
        key_env=key_env,
        configured="openai_calls" in getattr(config, "model_fields_set", ()),
    )
