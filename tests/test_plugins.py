"""Plugin loading through real entry points: allow/block lists, broken plugins named, the rest load."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from mcp.server import MCPServer

from mcp_voice.api import load_tools
from mcp_voice.config import Config, parse_config
from mcp_voice.hookspecs import hookimpl
from mcp_voice.plugins import collect_servers, make_plugin_manager
from mcp_voice.tools.spec import ServerSpec

PLUGIN_SOURCE = """
from mcp.server import MCPServer
from mcp_voice.hookspecs import hookimpl
from mcp_voice.tools.spec import ServerSpec

@hookimpl
def register_servers(register, config):
    server = MCPServer({server!r})

    @server.tool()
    async def echo(text: str) -> str:
        return text

    register(ServerSpec(name={server!r}, target=server))
"""

MakeDist = Callable[..., str]


@pytest.fixture
def make_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MakeDist:
    """Install a one-module distribution with an `mcp_voice` entry point (a real dist-info dir)."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def make(name: str, source: str | None = None, *, version: str = "0.3") -> str:
        module = f"plug_{name}_{uuid.uuid4().hex[:8]}"
        text = PLUGIN_SOURCE.format(server=name) if source is None else textwrap.dedent(source)
        (tmp_path / f"{module}.py").write_text(text)
        info = tmp_path / f"mcp_voice_{name}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: mcp-voice-{name}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[mcp_voice]\n{name} = {module}\n")
        return module

    return make


def echo_server(name: str) -> MCPServer:
    server = MCPServer(name)

    @server.tool()
    async def echo(text: str) -> str:
        return text

    return server


class Small:
    """The way tests (and embedders) register a plugin without packaging it."""

    def __init__(self, name: str, servers: tuple[str, ...] = ()) -> None:
        self.name = name
        self.servers = servers

    @hookimpl
    def register_servers(self, register: Callable[[ServerSpec], None], config: Config) -> None:
        for server in self.servers:
            register(ServerSpec(name=server, target=echo_server(server)))


def test_entry_point_plugin_loads_with_version_and_servers(make_dist: MakeDist) -> None:
    make_dist("alpha", version="1.2.3")
    plugins = make_plugin_manager(allow=["alpha"], env={})
    info = plugins.plugins["alpha"]
    assert (info.status, info.version, info.package, info.error) == (
        "loaded",
        "1.2.3",
        "mcp-voice-alpha",
        None,
    )
    specs, errors = collect_servers(plugins, Config())
    assert errors == {}
    assert [(s.name, s.plugin, s.kind) for s in specs] == [("alpha", "alpha", "in-process")]
    assert info.servers == ["alpha"]


def test_broken_import_is_reported_by_name_and_others_load(make_dist: MakeDist) -> None:
    make_dist("good")
    make_dist("broken", "import mcp_voice_no_such_module\n")
    plugins = make_plugin_manager(allow=["good", "broken"], env={})
    assert plugins.plugins["good"].status == "loaded"
    assert plugins.plugins["broken"].status == "error"
    assert "mcp_voice_no_such_module" in plugins.errors["broken"]
    assert plugins.errors["broken"].startswith("cannot import plug_broken_")
    specs, _ = collect_servers(plugins, Config())
    assert [s.name for s in specs] == ["good"]


def test_hook_that_raises_is_reported_and_others_register(make_dist: MakeDist) -> None:
    make_dist(
        "raiser",
        """
        from mcp_voice.hookspecs import hookimpl

        @hookimpl
        def register_servers(register, config):
            raise RuntimeError("cannot reach the backend")
        """,
    )
    plugins = make_plugin_manager(allow=["raiser"], extra=[Small("fine", ("one", "two"))], env={})
    specs, errors = collect_servers(plugins, Config())
    assert errors == {"raiser": "register_servers failed: RuntimeError: cannot reach the backend"}
    assert [(s.name, s.plugin) for s in specs] == [("one", "fine"), ("two", "fine")]


def test_plugin_with_an_unknown_hook_is_rejected(make_dist: MakeDist) -> None:
    make_dist(
        "typo",
        """
        from mcp_voice.hookspecs import hookimpl

        @hookimpl
        def register_server(register, config):
            pass
        """,
    )
    plugins = make_plugin_manager(allow=["typo"], extra=[Small("ok")], env={})
    assert "register_server" in plugins.errors["typo"]
    assert plugins.errors["typo"].startswith("not a valid plugin")
    assert plugins.pm.get_plugin("typo") is None and plugins.pm.get_plugin("ok") is not None


def test_allow_list_from_argument_and_env(make_dist: MakeDist) -> None:
    make_dist("aa")
    make_dist("bb")
    by_arg = make_plugin_manager(allow=["aa"], env={"MCP_VOICE_PLUGINS": "bb"})
    assert by_arg.plugins["aa"].status == "loaded" and by_arg.plugins["bb"].status == "not allowed"
    by_env = make_plugin_manager(env={"MCP_VOICE_PLUGINS": " bb , "})
    assert by_env.plugins["bb"].status == "loaded" and by_env.plugins["aa"].status == "not allowed"
    none = make_plugin_manager(env={"MCP_VOICE_PLUGINS": ""})
    assert {i.status for i in none.plugins.values()} == {"not allowed"}
    assert none.errors == {}


def test_allow_list_entry_naming_no_plugin_is_an_error(make_dist: MakeDist) -> None:
    make_dist("aa")
    plugins = make_plugin_manager(allow=["aa", "nope"], env={})
    assert plugins.plugins["aa"].status == "loaded"
    assert plugins.errors == {"nope": "named in the allow-list but no plugin 'nope' is installed"}


def test_a_misspelt_allow_list_entry_gets_a_suggestion(make_dist: MakeDist) -> None:
    make_dist("filesystem2")
    by_arg = make_plugin_manager(allow=["filesytem2"], env={})
    by_env = make_plugin_manager(env={"MCP_VOICE_PLUGINS": "filesytem2"})
    expected = "named in the allow-list but no plugin 'filesytem2' is installed (did you mean 'filesystem2'?)"
    assert by_arg.errors == by_env.errors == {"filesytem2": expected}


def test_block_list_from_argument_and_env(make_dist: MakeDist) -> None:
    make_dist("aa")
    make_dist("bb")
    plugins = make_plugin_manager(
        allow=["aa", "bb"],
        block=["aa"],
        extra=[Small("cc"), Small("dd")],
        env={"MCP_VOICE_BLOCK_PLUGINS": "bb,dd"},
    )
    status = {name: info.status for name, info in plugins.plugins.items()}
    assert status == {**status, "aa": "blocked", "bb": "blocked", "cc": "loaded", "dd": "blocked"}
    assert plugins.pm.get_plugin("aa") is None and plugins.pm.get_plugin("dd") is None
    assert plugins.errors == {}


def test_installed_first_party_plugins_are_entry_points() -> None:
    plugins = make_plugin_manager(allow=["filesystem", "calendar"], env={})
    for name in ("filesystem", "calendar"):
        assert plugins.plugins[name].package == "mcp-voice", plugins.plugins[name]
        assert plugins.plugins[name].status == "loaded", plugins.errors.get(name)


def test_register_rejects_duplicates_and_non_specs() -> None:
    class Bad:
        name = "bad"

        @hookimpl
        def register_servers(self, register: Callable[[object], None]) -> None:
            register({"name": "x"})

    plugins = make_plugin_manager(
        allow=[], extra=[Small("first", ("s",)), Small("second", ("s",)), Bad()], env={}
    )
    specs, errors = collect_servers(plugins, Config())
    assert [(s.name, s.plugin) for s in specs] == [("s", "first")]
    assert errors["second"] == (
        "register_servers failed: ValueError: server name 's' is already registered by plugin 'first'"
    )
    assert errors["bad"] == "register_servers failed: TypeError: register() takes a ServerSpec, got dict"


def test_plugin_settings_error_names_plugin_key_and_file(tmp_path: Path) -> None:
    from pydantic import BaseModel

    class Settings(BaseModel):
        port: int = 1

    class Configured:
        name = "configured"

        @hookimpl
        def register_servers(self, register: Callable[[ServerSpec], None], config: Config) -> None:
            config.plugin_settings("configured", Settings)

    config = parse_config({"plugins": {"configured": {"port": "many"}}}, source=tmp_path / "x.toml")
    plugins = make_plugin_manager(allow=[], extra=[Configured()], env={})
    _, errors = collect_servers(plugins, config)
    assert "x.toml: plugins.configured.port: Input should be a valid integer" in errors["configured"]


@pytest.mark.anyio
async def test_a_plugin_installed_twice_keeps_the_first_copy(make_dist: MakeDist, tmp_path: Path) -> None:
    """Two distributions provide `twin`: the error says the second is ignored, and so it is."""
    module = make_dist("twin")
    other = tmp_path / "mcp_voice_twin_fork-9.9.dist-info"
    other.mkdir()
    (other / "METADATA").write_text("Metadata-Version: 2.1\nName: mcp-voice-twin-fork\nVersion: 9.9\n")
    (other / "entry_points.txt").write_text(f"[mcp_voice]\ntwin = {module}\n")
    setup = load_tools(Config(), plugins=["twin"])
    assert "twice" in setup.errors["twin"] and "the second is ignored" in setup.errors["twin"]
    async with setup.registry() as registry:
        assert [tool.name for tool in registry.tools()] == ["twin__echo"]
