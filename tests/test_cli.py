"""The `mcp-voice` command line: output, exit codes and error messages a user sees.

Test plugins reach the CLI the way real ones do: a distribution with an `mcp_voice` entry point,
here a dist-info folder in a temporary directory put on sys.path (or PYTHONPATH for a subprocess).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcp_voice.cli import main
from mcp_voice.cli.tools import progress_text

PLUGIN = """
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_voice.hookspecs import hookimpl
from mcp_voice.tools.spec import META_LONG_RUNNING, ServerSpec


@hookimpl
def register_servers(register, config):
    server = MCPServer("echo")

    @server.tool()
    async def echo(text: str) -> str:
        \"\"\"Say the text back.\"\"\"
        return text

    @server.tool(meta={META_LONG_RUNNING: True})
    async def fail(reason: str = "no reason") -> str:
        \"\"\"Always fails.\"\"\"
        raise ToolError(f"refused: {reason}")

    @server.tool(meta={META_LONG_RUNNING: True})
    async def count(to: int, ctx: Context, say: bool = True) -> str:
        \"\"\"Count up, reporting progress.\"\"\"
        for i in range(1, to + 1):
            await ctx.report_progress(i, to, f"counted {i}" if say else None)
        return f"counted to {to}"

    register(ServerSpec(name="echo", target=server))
"""


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tmp dir holding the `clitest` plugin (entry point) and an empty cwd without a config file."""
    site = tmp_path / "site"
    info = site / "mcp_voice_clitest-0.7.dist-info"
    info.mkdir(parents=True)
    (site / "mcp_voice_clitest_plugin.py").write_text(PLUGIN)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mcp-voice-clitest\nVersion: 0.7\n")
    (info / "entry_points.txt").write_text("[mcp_voice]\nclitest = mcp_voice_clitest_plugin\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.chdir(tmp_path)
    for name in ("MCP_VOICE_CONFIG", "MCP_VOICE_PLUGINS", "MCP_VOICE_BLOCK_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    return site


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("plugins", "tools", "call"):
        assert command in out
    assert main(["call", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--args" in out and "--plugins" in out and "--block-plugins" in out and "--config" in out


def test_plugins_table(plugin_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", "--plugins", "clitest"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "PACKAGE", "STATUS", "SERVERS"]
    assert ["clitest", "0.7", "mcp-voice-clitest", "loaded", "echo"] in [line.split() for line in lines]


def test_plugins_reports_a_broken_plugin_and_exits_1(
    plugin_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    info = plugin_dir / "mcp_voice_bad-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mcp-voice-bad\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[mcp_voice]\nbad = mcp_voice_bad_missing_module\n")
    assert main(["plugins", "--plugins", "clitest,bad"]) == 1
    out = capsys.readouterr().out
    assert "cannot import mcp_voice_bad_missing_module" in out
    assert any(
        line.split()[:4] == ["clitest", "0.7", "mcp-voice-clitest", "loaded"] for line in out.splitlines()
    )
    assert main(["plugins", "--plugins", "clitest,bad", "--block-plugins", "bad"]) == 0


def test_tools_lists_what_the_model_sees(plugin_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tools", "--plugins", "clitest"]) == 0
    out = capsys.readouterr().out
    assert "echo__echo  [timeout 30s, barge-in: keep]" in out
    assert "    Say the text back." in out
    assert "    - text: string" in out
    assert "echo__fail  [long-running," in out

    assert main(["tools", "--plugins", "clitest", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert [t["name"] for t in listing["tools"]] == ["echo__echo", "echo__fail", "echo__count"]
    assert set(listing["tools"][0]) == {"type", "name", "description", "parameters"}
    assert listing["tools"][0]["parameters"]["required"] == ["text"]
    assert listing["policy"]["echo__fail"]["long_running"] is True
    assert listing["errors"] == {}


def test_call_prints_the_output(plugin_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["call", "echo__echo", "--args", '{"text": "hello there"}', "--plugins", "clitest"]) == 0
    assert "hello there" in capsys.readouterr().out


def test_call_of_a_long_running_tool_shows_progress_on_stderr(
    plugin_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["call", "echo__count", "--args", '{"to": 2}', "--plugins", "clitest"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "counted to 2\n"  # progress never mixes into the result
    assert captured.err.splitlines() == [
        "mcp-voice: counted 1 (1/2, 50%)",
        "mcp-voice: counted 2 (2/2, 100%)",
    ]
    assert main(["call", "echo__count", "--args", '{"to": 1, "say": false}', "--plugins", "clitest"]) == 0
    assert capsys.readouterr().err == "mcp-voice: progress 1/1 (100%)\n"


def test_progress_without_a_total_does_not_repeat_the_count() -> None:
    assert progress_text(9000, None, "Searched 9000 files, 2 matches so far") == (
        "Searched 9000 files, 2 matches so far"
    )
    assert progress_text(3, None, "working") == "working (3)"
    assert progress_text(3, None, None) == "progress 3"


def test_call_tool_error_exits_1(plugin_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["call", "echo__fail", "--args", '{"reason": "outside root"}', "--plugins", "clitest"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    error = json.loads(captured.err.strip().splitlines()[-1])
    assert "refused: outside root" in error["error"]["message"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["call", "echo__echo", "--args", "{text: 1}"], "--args is not valid JSON: Expecting property name"),
        (["call", "echo__echo", "--args", "[1]"], "--args must be a JSON object, got list"),
        (
            ["call", "echo__nope"],
            "unknown tool 'echo__nope' (available: echo__echo, echo__fail, echo__count)",
        ),
        (["tools", "--server", "nope"], "no server named 'nope' (servers: echo)"),
    ],
)
def test_usage_errors_exit_2(
    plugin_dir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main([*argv, "--plugins", "clitest"]) == 2
    err = capsys.readouterr().err
    assert f"mcp-voice: error: {message}" in err
    assert "Traceback" not in err


def test_config_error_names_file_and_key(plugin_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path("mcp-voice.toml").write_text('[servers.time]\ncommand = "x"\nmax_concurrency = 0\n')
    assert main(["tools", "--plugins", "clitest"]) == 2
    err = capsys.readouterr().err
    assert (
        "mcp-voice: error: mcp-voice.toml: servers.time.max_concurrency: Input should be greater than 0"
        in err
    )
    assert "Traceback" not in err


def test_misspelt_plugin_names_get_a_suggestion(plugin_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path("mcp-voice.toml").write_text("[plugins.clitets]\n")
    assert main(["tools", "--plugins", "clitest,clitset"]) == 1
    err = capsys.readouterr().err
    assert "plugin clitset: named in the allow-list but no plugin 'clitset' is installed" in err
    assert (
        "plugin clitets: [plugins.clitets] is set in the config but no plugin 'clitets' is installed" in err
    )
    assert err.count("(did you mean 'clitest'?)") == 2


def test_filesystem_plugin_tools_and_refused_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "jail"
    root.mkdir()
    (root / "note.txt").write_text("buy milk")
    config = tmp_path / "fs.toml"
    config.write_text(f'[plugins.filesystem]\nroot = "{root}"\n')
    common = ["--config", str(config), "--plugins", "filesystem"]
    assert main(["tools", *common]) == 0
    assert "filesystem__read_file  [" in capsys.readouterr().out
    assert main(["call", "filesystem__read_file", "--args", '{"path": "note.txt"}', *common]) == 0
    assert "buy milk" in capsys.readouterr().out
    outside = json.dumps({"path": str(tmp_path / "fs.toml")})
    assert main(["call", "filesystem__read_file", "--args", outside, *common]) == 1
    assert "outside" in capsys.readouterr().err


def test_console_script_subprocess(plugin_dir: Path, tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "mcp-voice"
    env = {**os.environ, "PYTHONPATH": str(plugin_dir), "MCP_VOICE_PLUGINS": "clitest"}
    env.pop("MCP_VOICE_CONFIG", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [script, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
        )

    ok = run("call", "echo__echo", "--args", '{"text": "over the wire"}')
    assert (ok.returncode, ok.stderr) == (0, "")
    assert "over the wire" in ok.stdout
    failed = run("call", "echo__fail")
    assert failed.returncode == 1 and "refused: no reason" in failed.stderr
    usage = run("call", "echo__echo", "--args", "{")
    assert usage.returncode == 2 and "--args is not valid JSON" in usage.stderr
    assert "Traceback" not in failed.stderr + usage.stderr
