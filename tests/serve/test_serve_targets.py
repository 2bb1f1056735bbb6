"""Which upstream, and which key goes with it: the OpenAI key to OpenAI only, never by accident."""

from __future__ import annotations

import pytest

from mcp_voice.serve.targets import (
    TargetError,
    check_target,
    default_upstream,
    display_name,
    upstream_api_key,
)


def test_default_upstream_follows_the_openai_key() -> None:
    assert default_upstream({"OPENAI_API_KEY": "sk-x"}) == "openai"
    assert default_upstream({}) == "sim"
    assert default_upstream({"OPENAI_API_KEY": ""}) == "sim"


def test_openai_target_gets_the_openai_key() -> None:
    assert upstream_api_key("openai", {"OPENAI_API_KEY": "sk-x"}) == "sk-x"
    with pytest.raises(TargetError, match="OPENAI_API_KEY"):
        upstream_api_key("openai", {})


@pytest.mark.parametrize("target", ["sim", "ws://127.0.0.1:9/v1/realtime", "wss://relay.example/v1/realtime"])
def test_other_targets_never_get_the_openai_key_implicitly(target: str) -> None:
    assert upstream_api_key(target, {"OPENAI_API_KEY": "sk-x"}) is None


def test_a_url_target_gets_a_key_only_when_named() -> None:
    env = {"OPENAI_API_KEY": "sk-x", "RELAY_KEY": "rk"}
    assert upstream_api_key("wss://relay.example/v1/realtime", env, "RELAY_KEY") == "rk"
    with pytest.raises(TargetError, match="MISSING"):
        upstream_api_key("wss://relay.example/v1/realtime", env, "MISSING")


def test_targets_are_checked_and_shown_without_credentials() -> None:
    assert check_target("sim") == "sim"
    assert check_target("ws://127.0.0.1:9") == "ws://127.0.0.1:9"
    for bad in ("http://x", "simulator", "ws://"):
        with pytest.raises(TargetError):
            check_target(bad)
    assert (
        display_name("wss://user:pw@relay.example:8443/v1/realtime?key=k")
        == "wss://relay.example:8443/v1/realtime"
    )
    assert display_name("ws://[::1]:9/x") == "ws://[::1]:9/x"
