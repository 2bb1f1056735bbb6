"""Tool servers that fail or hang at start: serve says so on stderr and listens at once.

A hanging server connects in the background; when it comes up its tools reach live sessions
as a tools update (the host's `session.update` upstream).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import pytest
import websockets
from conftest import HERE, FakeUpstream, http_get, read_all, serve_process, write_config
from test_serve_command import LINE

pytestmark = pytest.mark.anyio


def server_table(name: str, command: str, *args: str) -> str:
    return f"[servers.{name}]\ncommand = {json.dumps(command)}\nargs = {json.dumps(list(args))}\n"


async def test_servers_that_fail_to_start_are_reported_on_stderr(tmp_path: Path) -> None:
    extra = server_table("falls", "/bin/false") + server_table("nowhere", str(tmp_path / "no-such-command"))
    config = write_config(tmp_path, extra)
    async with serve_process("--port", "0", "--upstream", "sim", "--config", str(config)) as (proc, line):
        port = int(LINE.match(line).group(1))  # type: ignore[union-attr]
        _, body = await http_get(f"http://127.0.0.1:{port}/healthz")
        assert json.loads(body)["failed_servers"] == ["falls", "nowhere"]
        proc.terminate()
        err = await read_all(proc.stderr)
    assert "MCP server 'falls' failed to start:" in err, err
    assert "MCP server 'nowhere' failed to start:" in err, err
    assert "no-such-command" in err or "No such file" in err, err


async def test_a_server_hanging_at_initialize_connects_in_the_background(
    tmp_path: Path, fake_upstream: FakeUpstream
) -> None:
    go = tmp_path / "go"
    late = server_table("late", sys.executable, str(HERE / "late_server.py"), str(go))
    config = write_config(tmp_path, late)
    args = ("--port", "0", "--upstream", fake_upstream.url, "--config", str(config))
    async with serve_process(*args) as (proc, line):
        port = int(LINE.match(line).group(1))  # type: ignore[union-attr]
        _, body = await http_get(f"http://127.0.0.1:{port}/healthz")
        health = json.loads(body)
        assert health["starting_servers"] == ["late"] and health["tools"] == 2  # listening while it hangs
        # The host's own tools updates are answered to the host only (the client asked for none),
        # so this test watches what reaches the upstream.
        async with websockets.connect(f"ws://127.0.0.1:{port}/v1/realtime"):
            with anyio.fail_after(20):
                # FakeUpstream only records: polled, within the time limit.
                while not [e for e in fake_upstream.events if e["type"] == "session.update"]:  # noqa: ASYNC110
                    await anyio.sleep(0.02)
            first = [e for e in fake_upstream.events if e["type"] == "session.update"]
            assert {t["name"] for t in first[0]["session"]["tools"]} == {
                "testtools__lookup",
                "testtools__slow_report",
                # slow_report is long-running: the caller may ask what runs and cancel it
                "mcp_voice__running_calls",
                "mcp_voice__cancel_call",
            }
            go.touch()  # the server comes up: the live session's model gets its tools
            with anyio.fail_after(60):
                while True:
                    updates = [e for e in fake_upstream.events if e["type"] == "session.update"]
                    names = {t["name"] for t in updates[-1]["session"].get("tools", [])}
                    if "late__lookup" in names:
                        break
                    await anyio.sleep(0.05)
        _, body = await http_get(f"http://127.0.0.1:{port}/healthz")
        assert json.loads(body)["starting_servers"] == [] and json.loads(body)["tools"] == 4
        proc.terminate()
        err = await read_all(proc.stderr)
    assert "MCP server 'late' is still starting" in err, err


def filesystem_config(folder: Path) -> Path:
    (folder / "shared").mkdir(parents=True)
    path = folder / "mcp-voice.toml"
    path.write_text('[plugins.filesystem]\nroot = "shared"\n')
    return path


async def test_serve_prints_the_filesystem_root_it_shares(tmp_path: Path) -> None:
    # the config lives in another folder than the cwd: the root is resolved against the config's
    config = filesystem_config(tmp_path / "elsewhere")
    args = ("--port", "0", "--upstream", "sim", "--config", str(config))
    async with serve_process(*args, env={"MCP_VOICE_PLUGINS": "filesystem"}, cwd=tmp_path) as (proc, line):
        assert "listening on" in line, line
        assert proc.stdout is not None
        seen = ""
        with anyio.fail_after(30):
            while "filesystem:" not in seen:
                seen += (await proc.stdout.receive()).decode()
    root = (tmp_path / "elsewhere" / "shared").resolve()
    assert f"filesystem: shares {root} (read-only" in seen, seen
