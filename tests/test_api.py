"""open_tools / load_tools: plugins and config become one started registry, hooks wired in."""

from __future__ import annotations

import json
import logging
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import anyio
import mcp.types
import pytest
from mcp.server import MCPServer

from mcp_voice.api import load_tools, open_tools
from mcp_voice.config import Config, ConfigError, parse_config
from mcp_voice.hookspecs import hookimpl
from mcp_voice.tools.spec import ServerSpec, ToolEvent, ToolPolicy


def echo_server(name: str) -> MCPServer:
    server = MCPServer(name)

    @server.tool()
    async def echo(text: str) -> str:
        """Say it back."""
        return text

    @server.tool()
    async def shout(text: str) -> str:
        return text.upper()

    return server


class Echo:
    name = "echo"

    @hookimpl
    def register_servers(self, register: Callable[[ServerSpec], None], config: Config) -> None:
        register(ServerSpec(name="echo", target=echo_server("echo")))


class Observer:
    name = "observer"

    def __init__(self) -> None:
        self.events: list[ToolEvent] = []

    @hookimpl
    def tool_event(self, event: ToolEvent) -> None:
        self.events.append(event)


class LongShout:
    name = "long-shout"

    @hookimpl
    def tool_policy(self, server: str, tool: mcp.types.Tool, policy: ToolPolicy) -> ToolPolicy | None:
        if tool.name == "shout":
            return ToolPolicy(long_running=True, timeout_s=99, on_barge_in="cancel", approval=policy.approval)
        return None


class Broken:
    name = "broken"

    @hookimpl(tryfirst=True)
    def tool_policy(self, server: str, tool: mcp.types.Tool, policy: ToolPolicy) -> ToolPolicy | None:
        raise RuntimeError("policy bug")

    @hookimpl(tryfirst=True)
    def tool_event(self, event: ToolEvent) -> None:
        raise RuntimeError("observer bug")


@pytest.mark.anyio
async def test_open_tools_serves_plugin_tools() -> None:
    with anyio.fail_after(10):
        async with open_tools(Config(), plugins=[], extra_plugins=[Echo()], env={}) as tools:
            assert [t.name for t in tools.tools()] == ["echo__echo", "echo__shout"]
            assert tools.servers["echo"].plugin == "echo"
            result = await tools.call("echo__shout", {"text": "hi"})
    assert not result.is_error and "HI" in result.output


@pytest.mark.anyio
async def test_policy_hook_and_event_observer_are_wired(caplog: pytest.LogCaptureFixture) -> None:
    observer = Observer()
    extra = [Echo(), LongShout(), observer, Broken()]
    with anyio.fail_after(10), caplog.at_level(logging.WARNING, logger="mcp_voice"):
        async with open_tools(Config(), plugins=[], extra_plugins=extra, env={}) as tools:
            shout, echo = tools.get("echo__shout"), tools.get("echo__echo")
            assert shout is not None and echo is not None
            assert (shout.policy.long_running, shout.policy.timeout_s, shout.policy.on_barge_in) == (
                True,
                99,
                "cancel",
            )
            assert not echo.policy.long_running
            await tools.call("echo__echo", {"text": "x"}, call_id="c1")
    kinds = [(e.kind, e.tool, e.call_id) for e in observer.events if e.call_id == "c1"]
    assert kinds == [("started", "echo__echo", "c1"), ("finished", "echo__echo", "c1")]
    assert "plugin 'broken': tool_policy failed" in caplog.text
    assert "plugin 'broken': tool_event failed" in caplog.text


@pytest.mark.anyio
async def test_plugin_table_policy_keys_apply_to_its_servers(tmp_path: Path) -> None:
    config = parse_config(
        {"plugins": {"echo": {"long_running": ["echo"], "timeout_s": 7, "tools": ["echo"], "other": 1}}},
        source=tmp_path / "c.toml",
    )
    setup = load_tools(config, plugins=[], extra_plugins=[Echo()], env={})
    assert setup.errors == {}
    (spec,) = setup.specs
    assert (spec.long_running, spec.timeout_s, spec.tools, spec.max_concurrency) == (
        ("echo",),
        7,
        ["echo"],
        4,
    )
    with anyio.fail_after(10):
        async with setup.registry() as tools:
            (tool,) = tools.tools()
    assert (tool.name, tool.policy.long_running, tool.policy.timeout_s) == ("echo__echo", True, 7)


def test_bad_policy_key_and_unknown_plugin_table_are_reported(tmp_path: Path) -> None:
    config = parse_config(
        {"plugins": {"echo": {"timeout_s": "soon"}, "ecko": {}}},
        source=tmp_path / "c.toml",
    )
    setup = load_tools(config, plugins=[], extra_plugins=[Echo()], env={})
    assert setup.specs == []
    assert "c.toml: plugins.echo.timeout_s: Input should be a valid number" in setup.errors["echo"]
    assert setup.errors["ecko"] == (
        "[plugins.ecko] is set in the config but no plugin 'ecko' is installed (did you mean 'echo'?)"
    )


def time_server() -> str:
    """mcp-server-time from the test extras, next to this Python (not skipped: CI must have it)."""
    command = shutil.which("mcp-server-time", path=str(Path(sys.executable).parent))
    assert command is not None, "mcp-server-time is missing: pip install -e '.[test]'"
    return command


def test_config_server_may_not_take_a_plugin_servers_name() -> None:
    config = parse_config({"servers": {"echo": {"url": "http://127.0.0.1:1/mcp"}}})
    setup = load_tools(config, plugins=[], extra_plugins=[Echo()], env={})
    assert [(s.name, s.plugin) for s in setup.specs] == [("echo", "echo")]
    assert setup.errors == {"servers.echo": "the name 'echo' is already used by plugin 'echo'"}


@pytest.mark.anyio
async def test_config_stdio_server_joins_plugin_servers(tmp_path: Path) -> None:
    command = time_server()
    config = parse_config(
        {
            "servers": {
                "time": {
                    "command": command,
                    "args": ["--local-timezone", "UTC"],
                    "tools": ["get_current_time"],
                }
            }
        },
        source=tmp_path / "c.toml",
    )
    with anyio.fail_after(30):
        async with open_tools(config, plugins=[], extra_plugins=[Echo()], env={}) as tools:
            assert tools.errors == {}
            assert [t.name for t in tools.tools()] == ["echo__echo", "echo__shout", "time__get_current_time"]
            result = await tools.call("time__get_current_time", {"timezone": "UTC"})
    assert not result.is_error and "UTC" in result.output


@pytest.mark.anyio
async def test_long_server_name_from_config_gives_valid_distinct_readable_names(tmp_path: Path) -> None:
    name = "my_company_internal_time_service_for_the_voice_assistant_in_production"
    assert len(name) > 64
    config = parse_config(
        {"servers": {name: {"command": time_server(), "args": ["--local-timezone", "UTC"]}}},
        source=tmp_path / "c.toml",
    )
    with anyio.fail_after(30):
        async with open_tools(config, plugins=[], env={}) as tools:
            assert tools.errors == {}
            by_tool = {t.tool_name: t for t in tools.tools()}
            assert set(by_tool) == {"get_current_time", "convert_time"}
            for tool_name, tool in by_tool.items():
                assert re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", tool.name), tool.name
                assert tool.server == name and f"__{tool_name}_" in tool.name
            result = await tools.call(by_tool["get_current_time"].name, {"timezone": "Asia/Tokyo"})
    assert not result.is_error, result.output
    assert json.loads(result.output)["timezone"] == "Asia/Tokyo"


class ChattyPlugin:
    """A third-party plugin whose MCPServer keeps MCPServer's default log_level="INFO"."""

    name = "chatty"

    @hookimpl
    def register_servers(self, register: Callable[[ServerSpec], None], config: Config) -> None:
        register(ServerSpec(name="chatty", target=MCPServer("chatty")))


@pytest.mark.anyio
async def test_loading_plugins_leaves_the_root_logger_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the calendar plugin's default store lands here
    root = logging.getLogger()
    saved = root.level, root.handlers[:]
    root.handlers.clear()  # as in a fresh embedding process (pytest adds its own handlers)
    root.setLevel(logging.WARNING)
    try:
        async with open_tools(Config(), extra_plugins=[ChattyPlugin()], env={}) as tools:
            during = root.level, root.handlers[:]
            assert {"filesystem", "calendar", "chatty"} <= set(tools.servers)
        assert during == (logging.WARNING, [])
        assert (root.level, root.handlers) == (logging.WARNING, [])
        # Without the guard MCPServer configures logging: the check above could fail.
        MCPServer("unguarded")
        assert root.handlers and root.level == logging.INFO
    finally:
        root.handlers[:] = saved[1]
        root.setLevel(saved[0])


def test_plugin_tables_expand_environment_variables(tmp_path: Path) -> None:
    from pydantic import BaseModel

    class Settings(BaseModel):
        url: str
        password: str
        hosts: list[str]

    table = {"url": "https://${HOST}/dav", "password": "${PW}", "hosts": ["${HOST}", "b"]}
    config = parse_config({"plugins": {"echo": table}}, source=tmp_path / "c.toml")
    setup = load_tools(config, plugins=[], extra_plugins=[Echo()], env={"HOST": "h.example", "PW": "s3"})
    settings = setup.config.plugin_settings("echo", Settings)
    assert (settings.url, settings.password, settings.hosts) == (
        "https://h.example/dav",
        "s3",
        ["h.example", "b"],
    )
    with pytest.raises(ConfigError) as unset:
        setup.config.with_env({"HOST": "h"}).plugin_settings("echo", Settings)
    assert (
        str(unset.value)
        == f"{tmp_path / 'c.toml'}: plugins.echo.password: environment variable PW is not set"
    )
