"""Who may open a session: a bearer token, required as soon as the endpoint leaves loopback.

The token comes from the environment (`MCP_VOICE_TOKEN`, or the variable `--token-env` names), never
from the command line, where `ps` would show it. Clients present it the ways Realtime clients
already present an API key: `Authorization: Bearer <token>` (the openai SDK's `api_key`), the
`openai-insecure-api-key.<token>` WebSocket subprotocol (browsers), or `?token=<token>`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

DEFAULT_TOKEN_ENV = "MCP_VOICE_TOKEN"
KEY_SUBPROTOCOL_PREFIX = "openai-insecure-api-key."
"""Browsers cannot set headers on a WebSocket, so they carry the key in a subprotocol."""
REALTIME_SUBPROTOCOL = "realtime"


class AuthConfigError(Exception):
    """The endpoint would be reachable by others without a token, or a named token is missing."""


LOOPBACK_NAMES = frozenset({"127.0.0.1", "::1", "localhost"})
"""Keyless listening means exactly these spellings: the Host/Origin checks and the MCP SDK's own
protection know them, while `127.0.0.2` or `0:0:0:0:0:0:0:1` would slip past what they compare."""


def is_loopback(host: str) -> bool:
    """True for exactly `127.0.0.1`, `::1` (bracketed or not) and `localhost`; anything else needs a key."""
    return host.strip().strip("[]").lower() in LOOPBACK_NAMES


def resolve_token(env: Mapping[str, str], token_env: str | None = None) -> str | None:
    """The token from `token_env` (it must then be set) or from `MCP_VOICE_TOKEN` (optional)."""
    if token_env:
        token = env.get(token_env, "")
        if not token:
            raise AuthConfigError(f"the token variable {token_env} is not set (or empty)")
        return token
    return env.get(DEFAULT_TOKEN_ENV) or None


def check_bind(
    host: str, keys: str | Sequence[str] | None, *, insecure: bool = False, offer_insecure: bool = True
) -> None:
    """Refuse to expose the endpoint beyond loopback without API keys (unless `insecure`)."""
    if isinstance(keys, str):
        keys = [keys]
    if keys or insecure or is_loopback(host):
        return
    escape = ", or pass --insecure to serve without keys" if offer_insecure else ""
    raise AuthConfigError(
        f"refusing to listen on {host} without API keys: anyone who can reach it could use the "
        "upstream account and the tools. Set MCP_VOICE_API_KEYS (comma-separated API keys) or "
        f"{DEFAULT_TOKEN_ENV} (one key), or bind to 127.0.0.1{escape}."
    )


INSECURE_WARNING = (
    "WARNING: --insecure: serving beyond loopback WITHOUT API keys; anyone who can reach this port "
    "can use the upstream account and every tool. Set MCP_VOICE_API_KEYS instead."
)


def presented_tokens(
    headers: Mapping[str, str], query: Mapping[str, str], subprotocols: Iterable[str]
) -> list[str]:
    """Every credential a client offered, in any of the accepted places."""
    found = []
    authorization = headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        found.append(value.strip())
    if query.get("token"):
        found.append(query["token"])
    found += [p[len(KEY_SUBPROTOCOL_PREFIX) :] for p in subprotocols if p.startswith(KEY_SUBPROTOCOL_PREFIX)]
    return found


def choose_subprotocol(offered: Iterable[str]) -> str | None:
    """Answer `realtime` when a browser offers it; never echo the key-carrying subprotocol."""
    return REALTIME_SUBPROTOCOL if REALTIME_SUBPROTOCOL in offered else None
