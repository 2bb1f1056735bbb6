"""The resilience and limit keys of `[serve]` and `[session]` reach the settings each session gets."""

from __future__ import annotations

from pathlib import Path

from mcp_voice.config import load_config
from mcp_voice.serve.run import resolve_options


def test_serve_and_session_keys_reach_the_settings(tmp_path: Path) -> None:
    path = tmp_path / "mcp-voice.toml"
    path.write_text(
        "[serve]\nupstream = 'sim'\nmax_sessions = 7\nreconnect_attempts = 2\nsession_rollover_s = 1500\n"
        "replay_budget_chars = 5000\n"
        "[session]\nmax_session_calls = 2\nmax_queued_responses = 4\nmax_events_per_s = 9\n"
        "max_message_bytes = 4096\nmax_result_chars = 1000\n"
    )
    options = resolve_options(load_config(path), env={})
    settings = options.settings
    assert settings.max_sessions == 7
    assert (settings.reconnect.attempts, settings.reconnect.rollover_after_s) == (2, 1500)
    assert settings.reconnect.replay_budget_chars == 5000
    host = settings.host
    assert (host.max_session_calls, host.max_queued_responses, host.max_events_per_s) == (2, 4, 9)
    assert (host.max_message_bytes, host.max_result_chars) == (4096, 1000)


def test_zero_means_no_rollover_and_no_session_limit(tmp_path: Path) -> None:
    path = tmp_path / "mcp-voice.toml"
    path.write_text("[serve]\nupstream = 'sim'\nmax_sessions = 0\nsession_rollover_s = 0\n")
    settings = resolve_options(load_config(path), env={}).settings
    assert settings.max_sessions is None and settings.reconnect.rollover_after_s is None
