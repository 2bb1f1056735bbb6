"""Who may use serve: API keys (operators, backends) and ephemeral client secrets (browsers, apps).

One function decides it for every authenticated route: `authenticate(connection)`, for any
Starlette `Request` or `WebSocket` of the serve app. It returns a `Credential` or None (refuse).
Routes that mint secrets or expose metrics pass `secrets=False`: an ephemeral secret opens
sessions, nothing else.

Keys come from `[serve] api_keys_env` (a variable name: keys never live in the file), else
`MCP_VOICE_API_KEYS` (comma-separated), plus `MCP_VOICE_TOKEN` (or `--token-env`), which keeps
working as one more key. Clients present a key or secret as `Authorization: Bearer`, the
browser subprotocol `openai-insecure-api-key.<key>`, or (WebSocket only) `?token=` (see
`auth.presented_tokens`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.requests import HTTPConnection

from mcp_voice.serve import auth
from mcp_voice.serve.client_secrets import SECRET_PREFIX, MemorySecretStore, SecretStore, digest_of

API_KEYS_ENV = "MCP_VOICE_API_KEYS"


@dataclass(frozen=True)
class Credential:
    """Who got in. `key_id` is a short fingerprint, safe to log (never the key itself)."""

    kind: Literal["open", "api_key", "client_secret"]
    key_id: str = ""
    session: Mapping[str, Any] = field(default_factory=dict)
    """The session config a client secret pins (empty for API keys)."""


OPEN = Credential("open")


def fingerprint(value: str) -> str:
    """A stable, non-reversible short id of a key, for logs and metrics labels."""
    return "key_" + hashlib.sha256(value.encode()).hexdigest()[:8]


def resolve_api_keys(
    env: Mapping[str, str], *, keys_env: str | None = None, token_env: str | None = None
) -> tuple[str, ...]:
    """Every API key the environment configures (deduplicated, in order).

    Raises `AuthConfigError` when a variable named explicitly is unset.
    """
    keys: list[str] = []
    if keys_env:
        raw = env.get(keys_env, "")
        if not raw.strip():
            raise auth.AuthConfigError(f"the API keys variable {keys_env} is not set (or empty)")
        keys += _split(raw)
    else:
        keys += _split(env.get(API_KEYS_ENV, ""))
    token = auth.resolve_token(env, token_env)
    if token:
        keys.append(token)
    return tuple(dict.fromkeys(keys))


def _split(raw: str) -> list[str]:
    return [key.strip() for key in raw.split(",") if key.strip()]


class Authenticator:
    """API keys and the secret store of one serve app. No keys: everyone is let in (loopback only)."""

    def __init__(self, api_keys: Sequence[str] = (), store: SecretStore | None = None) -> None:
        self._keys = [(key.encode(), fingerprint(key)) for key in api_keys]
        self.store: SecretStore = store if store is not None else MemorySecretStore()

    @property
    def required(self) -> bool:
        return bool(self._keys)

    def api_key(self, offered: Iterable[str]) -> Credential | None:
        """The credential of the first offered value that is an API key (constant-time compares)."""
        for value in offered:
            encoded = value.encode()
            for key, key_id in self._keys:
                if hmac.compare_digest(key, encoded):
                    return Credential("api_key", key_id)
        return None

    async def check(self, offered: Sequence[str], *, secrets: bool = True) -> Credential | None:
        """An API key, else (when `secrets`) an unexpired client secret; None when nothing fits.

        Without API keys the endpoint is open, but a client secret still pins its session, and
        an unknown or expired one is refused (its holder expects the session it was minted for).
        A store that cannot be asked raises `StateUnavailable`: a secret is never taken on trust.
        """
        credential = self.api_key(offered)
        if credential is not None:
            return credential
        if secrets:
            for value in offered:
                if not value.startswith(SECRET_PREFIX):  # only minted values can be secrets
                    continue
                secret = await self.store.get(digest_of(value))
                if secret is not None:
                    return Credential("client_secret", "ek_" + secret.digest[:8], secret.session)
            if any(value.startswith(SECRET_PREFIX) for value in offered) and not self.required:
                return None
        return None if self.required else OPEN


def offered_credentials(connection: HTTPConnection) -> list[str]:
    """Everything the request or WebSocket handshake presents as a key.

    `?token=` counts for WebSocket handshakes only (clients that cannot set headers); an HTTP
    request with it never gets this far (`origin.OriginGuard` answers 401).
    """
    subprotocols: list[str] = list(connection.scope.get("subprotocols") or [])
    query = connection.query_params if connection.scope["type"] == "websocket" else {}
    return auth.presented_tokens(connection.headers, query, subprotocols)


async def authenticate(connection: HTTPConnection, *, secrets: bool = True) -> Credential | None:
    """THE check of every authenticated route: a `Credential`, or None to refuse with 401.

    Works for any Starlette `Request`/`WebSocket` of an app built by `create_app` (the
    authenticator sits on `app.state.authenticator`). `secrets=False`: API keys only. Raises
    `StateUnavailable` when a secret was offered and the state store could not be asked.
    """
    authenticator: Authenticator = connection.app.state.authenticator
    return await authenticator.check(offered_credentials(connection), secrets=secrets)
