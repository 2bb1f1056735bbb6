"""The README's Python snippets run as written (a user's first copy-paste must work)."""

from __future__ import annotations

import re
import sys
import types
import zipfile
from pathlib import Path

import pytest

from mcp_voice import open_tools
from mcp_voice.serve.settings import ServeSettings
from mcp_voice.tools.registry import ToolRegistry
from tests.serve.conftest import serving

README = Path(__file__).resolve().parents[1] / "README.md"

pytestmark = pytest.mark.anyio


def snippet(containing: str) -> str:
    """The one ```python block of the README that contains `containing`."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    [block] = [b for b in blocks if containing in b]
    return block


async def run_script(code: str) -> None:
    """Run the block exactly as a user's script file (its own `asyncio.run`), in a thread: the
    test's event loop keeps serving while the script's loop talks to it."""
    import anyio

    def run() -> None:
        exec(compile(code, "README.md", "exec"), {"__name__": "__main__"})

    await anyio.to_thread.run_sync(run)


async def test_embedding_the_tool_layer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "README.md").write_text("# hello from the jail\n")
    await run_script(snippet("open_tools(load_config())"))
    out = capsys.readouterr().out
    assert "filesystem__read_file" in out and "calendar__list_events" in out
    assert "# hello from the jail" in out


async def test_embedding_a_whole_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    await run_script(snippet("host_session("))
    printed = capsys.readouterr().out.split()
    assert printed[0] == "session.created" and "response.output_audio.delta" in printed


async def test_the_one_file_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("mcp_voice_weather")
    exec(snippet("def register_servers(register, config)"), module.__dict__)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    async with open_tools(plugins=[], extra_plugins=[module]) as registry:
        names = [tool.name for tool in registry.tools()]
        assert names == ["weather__forecast", "weather__radar_report"]
        assert registry.get("weather__radar_report").policy.long_running  # type: ignore[union-attr]
        result = await registry.call("weather__forecast", {"days": 2})
    assert result.output == "sunny for 2 day(s)"


async def test_the_one_file_plugin_builds_from_its_pyproject(tmp_path: Path) -> None:
    """The two README blocks alone make an installable package with the `mcp_voice` entry point."""
    import anyio

    [toml] = [b for b in re.findall(r"```toml\n(.*?)```", README.read_text(), re.S) if "[project]" in b]
    (tmp_path / "pyproject.toml").write_text(toml)
    (tmp_path / "mcp_voice_weather.py").write_text(snippet("def register_servers(register, config)"))
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", "dist", "."]
    with anyio.fail_after(120):
        done = await anyio.run_process(command, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    [wheel] = (tmp_path / "dist").glob("mcp_voice_weather-0.1.0-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        entry_points = archive.read("mcp_voice_weather-0.1.0.dist-info/entry_points.txt").decode()
        assert "mcp_voice_weather.py" in archive.namelist()
    assert "[mcp_voice]\nweather = mcp_voice_weather" in entry_points


async def test_the_openai_sdk_client_snippet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("hello\n")
    async with open_tools(plugins=["filesystem"]) as registry:
        async with serving(registry, ServeSettings(upstream="sim")) as where:
            code = snippet("AsyncOpenAI(").replace("127.0.0.1:8765", where)
            await run_script(code)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "session.created"
    assert "response.mcp_call.completed" in printed  # the host ran the tool the text named
    transcript = "\n".join(printed[printed.index("response.output_audio_transcript.done") + 1 :])
    assert transcript.startswith("Tool result:") and "notes.txt" in transcript


async def test_the_openai_agents_snippet(capsys) -> None:
    async with ToolRegistry([]) as registry:
        async with serving(registry, ServeSettings(upstream="sim")) as where:
            code = snippet("RealtimeRunner(").replace("127.0.0.1:8765", where)
            await run_script(code)
    printed = capsys.readouterr().out.splitlines()
    assert "agent_start" in printed and printed[-1] == "agent_end"
