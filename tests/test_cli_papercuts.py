"""What a newcomer tripped over on the command line, each fixed and kept fixed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcp_voice.cli import main

pytest_plugins = ["tests.test_cli"]  # the `plugin_dir` fixture: the `clitest` plugin, installed


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("mcp-voice 0.")


def test_verbose_flag_after_the_command(plugin_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tools", "-v", "--plugins", "clitest"]) == 0
    assert "echo__echo" in capsys.readouterr().out
    assert main(["-v", "tools", "--plugins", "clitest"]) == 0


def test_arguments_the_schema_rejects_are_bad_input(
    plugin_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`call --help` says 2 on bad input: arguments the tool refuses are bad input."""
    assert main(["call", "echo__echo", "--args", '{"text": 5}', "--plugins", "clitest"]) == 2
    error = json.loads(capsys.readouterr().err.strip().splitlines()[-1])["error"]
    assert error["kind"] == "bad_arguments"
    assert main(["call", "echo__echo", "--args", "{}", "--plugins", "clitest"]) == 2
    assert main(["call", "--help"]) == 0
    assert "2 on bad input (including arguments the tool's schema rejects)" in " ".join(
        capsys.readouterr().out.split()
    )


def test_unknown_block_list_name_is_warned_about(
    plugin_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tools", "--plugins", "clitest", "--block-plugins", "clitset"]) == 0
    err = capsys.readouterr().err
    assert "warning: the block-list names 'clitset', but no such plugin is installed" in err
    assert "(did you mean 'clitest'?)" in err


def test_plugins_json_lists_a_plugins_own_error(plugin_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    info = plugin_dir / "mcp_voice_bad-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mcp-voice-bad\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[mcp_voice]\nbad = mcp_voice_bad_missing_module\n")
    assert main(["plugins", "--plugins", "clitest,bad", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    [bad] = [row for row in report["plugins"] if row["name"] == "bad"]
    assert bad["status"] == "error"
    assert report["errors"]["bad"] == bad["error"]


def test_serve_log_level_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--log-level {debug,info,warning,error} how much serve logs" in out
    assert "--tls-cert PATH" in out and "--tls-key PATH" in out
