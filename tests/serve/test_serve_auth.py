"""Auth rules at function level: who must present a token, and where a token may be presented."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import anyio
import pytest

from mcp_voice.serve import auth
from mcp_voice.serve.keys import Authenticator


def is_authorized(
    key: str | None, headers: Mapping[str, str], query: Mapping[str, str], protocols: Iterable[str]
) -> bool:
    """What serve decides for these credentials with `key` configured (None: no keys)."""
    authenticator = Authenticator([key] if key is not None else [])
    offered = auth.presented_tokens(headers, query, protocols)
    return anyio.run(authenticator.check, offered) is not None


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_hosts_need_no_token(host: str) -> None:
    assert auth.is_loopback(host)
    auth.check_bind(host, None)


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "192.168.1.5", "example.com", "127.0.0.2", "127.5.0.1", "0:0:0:0:0:0:0:1"]
)
def test_other_hosts_refuse_to_start_without_token(host: str) -> None:
    assert not auth.is_loopback(host)
    with pytest.raises(auth.AuthConfigError, match="without API keys"):
        auth.check_bind(host, None)
    auth.check_bind(host, "s3cret")


def test_token_comes_from_environment_only() -> None:
    assert auth.resolve_token({}) is None
    assert auth.resolve_token({"MCP_VOICE_TOKEN": "t1"}) == "t1"
    assert auth.resolve_token({"MINE": "t2", "MCP_VOICE_TOKEN": "t1"}, "MINE") == "t2"
    with pytest.raises(auth.AuthConfigError, match="MINE is not set"):
        auth.resolve_token({}, "MINE")


@pytest.mark.parametrize(
    ("headers", "query", "protocols"),
    [
        ({"authorization": "Bearer tok"}, {}, []),
        ({"authorization": "bearer  tok "}, {}, []),
        ({}, {"token": "tok"}, []),
        ({}, {}, ["realtime", "openai-insecure-api-key.tok"]),
        ({"authorization": "Bearer wrong"}, {"token": "tok"}, []),
    ],
)
def test_token_accepted_where_realtime_clients_put_keys(headers, query, protocols) -> None:  # type: ignore[no-untyped-def]
    assert is_authorized("tok", headers, query, protocols)


@pytest.mark.parametrize(
    ("headers", "query", "protocols"),
    [
        ({}, {}, []),
        ({"authorization": "Bearer tok2"}, {}, []),
        ({"authorization": "Basic tok"}, {}, []),
        ({}, {"token": ""}, ["openai-insecure-api-key.nope", "realtime"]),
    ],
)
def test_wrong_or_missing_token_refused(headers, query, protocols) -> None:  # type: ignore[no-untyped-def]
    assert not is_authorized("tok", headers, query, protocols)


def test_no_token_configured_lets_everyone_in_and_never_echoes_the_key_protocol() -> None:
    assert is_authorized(None, {}, {}, [])
    assert auth.choose_subprotocol(["realtime", "openai-insecure-api-key.k"]) == "realtime"
    assert auth.choose_subprotocol(["openai-insecure-api-key.k"]) is None
