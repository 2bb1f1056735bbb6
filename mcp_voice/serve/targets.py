"""Which upstream serve talks to, and which key (if any) goes with it.

The OpenAI key goes to OpenAI only: a URL upstream is anyone's server, so it gets a key only
when the operator names one explicitly (`--upstream-key-env NAME`). Keys never go to clients.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

OPENAI_KEY_ENV = "OPENAI_API_KEY"


class TargetError(Exception):
    """The upstream setting names nothing serve can connect to, or its key is missing."""


def default_upstream(env: Mapping[str, str]) -> str:
    """`openai` when an OpenAI key is configured, else the embedded simulator."""
    return "openai" if env.get(OPENAI_KEY_ENV) else "sim"


def check_target(target: str) -> str:
    """`openai`, `sim`, `local`, or a ws(s):// URL; anything else is refused before serve starts."""
    if target in ("openai", "sim", "local"):
        return target
    if urlsplit(target).scheme in ("ws", "wss") and urlsplit(target).netloc:
        return target
    raise TargetError(f"unknown upstream {target!r}: use openai, sim, local, or a ws:// or wss:// URL")


def upstream_api_key(target: str, env: Mapping[str, str], key_env: str | None = None) -> str | None:
    """The key to present upstream: `key_env` when named, else OPENAI_API_KEY for `openai` only."""
    if key_env:
        key = env.get(key_env, "")
        if not key:
            raise TargetError(f"the upstream key variable {key_env} is not set (or empty)")
        return key
    if target == "openai":
        key = env.get(OPENAI_KEY_ENV, "")
        if not key:
            raise TargetError(f"upstream openai needs {OPENAI_KEY_ENV} (or use --upstream sim)")
        return key
    return None


def display_name(target: str) -> str:
    """How the upstream is shown (listening line, /healthz): a URL loses credentials and query."""
    if target in ("openai", "sim", "local"):
        return target
    parts = urlsplit(target)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
