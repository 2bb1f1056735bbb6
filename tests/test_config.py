"""mcp-voice.toml: the documented shape parses, and every mistake names the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import StdioServerParameters
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from mcp_voice.config import Config, ConfigError, config_server_specs, load_config, parse_config
from mcp_voice.serve.run import host_settings

FULL_EXAMPLE = """
[plugins.filesystem]
root = "."
writable = false

[plugins.calendar]
store = "calendar.ics"

[servers.time]
command = "mcp-server-time"
args = ["--local-timezone", "UTC"]
env = {}
tools = ["get_current_time"]
long_running = ["*"]
approval = ["convert_time"]
timeout_s = 30
on_barge_in = "keep"
max_concurrency = 4

[servers.remote]
url = "http://127.0.0.1:3902/mcp"
headers = { Authorization = "Bearer ${TEST_TOKEN}" }
on_barge_in = "announce"

[session]
register_plugin_tools = false
async_mode = "deferred"
progress_updates = true
progress_interval_s = 2.5
auto_approve = false

[serve]
host = "127.0.0.1"
port = 9000
upstream = "sim"
model = "gpt-realtime"
"""


def write(tmp_path: Path, text: str, name: str = "mcp-voice.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_full_example_parses_into_server_specs(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL_EXAMPLE), env={})
    assert config.source == (tmp_path / "mcp-voice.toml").resolve()
    assert config.plugins["filesystem"] == {"root": ".", "writable": False}
    assert config.session.async_mode == "deferred" and config.session.progress_interval_s == 2.5
    assert (config.serve.port, config.serve.upstream) == (9000, "sim")

    time, remote = config_server_specs(config, env={"TEST_TOKEN": "s3cret"})
    assert isinstance(time.target, StdioServerParameters)
    assert time.target.command == "mcp-server-time"
    assert time.target.args == ["--local-timezone", "UTC"]
    assert Path(time.target.cwd or "") == tmp_path.resolve()  # relative to the file, not the cwd
    assert time.tools == ["get_current_time"] and time.long_running == ("*",)
    assert time.base_policy("get_current_time").long_running
    assert time.base_policy("convert_time").approval and not time.base_policy("other").approval
    assert time.plugin is None
    assert remote.target == "http://127.0.0.1:3902/mcp"
    assert remote.headers == {"Authorization": "Bearer s3cret"}
    assert remote.on_barge_in == "announce"


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(env={})
    assert config.source is None and config.base_dir == tmp_path
    assert config.serve.host == "127.0.0.1" and config.serve.port == 8765 and config.serve.upstream is None
    assert config.session.register_plugin_tools and config.session.async_mode == "placeholder"
    assert config_server_specs(config) == []


def test_finds_env_file_then_local_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "[serve]\nport = 1111\n")
    other = write(tmp_path, "[serve]\nport = 2222\n", name="other.toml")
    assert load_config(env={}).serve.port == 1111
    assert load_config(env={"MCP_VOICE_CONFIG": str(other)}).serve.port == 2222
    assert load_config(other, env={"MCP_VOICE_CONFIG": "nope.toml"}).serve.port == 2222


def test_bad_value_names_file_and_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, '[servers.time]\ncommand = "x"\ntimeout_s = "soon"\n')
    with pytest.raises(ConfigError) as e:
        load_config(env={})
    assert str(e.value).startswith("mcp-voice.toml: servers.time.timeout_s: Input should be a valid number")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[servers.time]\ncommand = "x"\ntimeout = 5\n',
            "servers.time.timeout: unknown key (did you mean 'timeout_s'?)",
        ),
        ("[sesion]\nauto_approve = true\n", "sesion: unknown key (did you mean 'session'?)"),
        ("[serve]\nport = 70000\n", "serve.port: Input should be less than or equal to 65535"),
        ('[servers.a]\ncommand = "x"\nurl = "http://h/mcp"\n', "servers.a: set exactly one of 'command'"),
        ("[servers.a]\ntimeout_s = 3\n", "servers.a: set exactly one of 'command'"),
        ('[servers.a]\nurl = "ws://h/mcp"\n', "servers.a: url must start with http://"),
        (
            '[servers.a]\ncommand = "x"\non_barge_in = "stop"\n',
            "servers.a.on_barge_in: Input should be 'cancel'",
        ),
        (
            '[session]\nasync_mode = "later"\n',
            "session.async_mode: Input should be 'placeholder' or 'deferred'",
        ),
        ('source = "x"\n', "source: unknown key"),
    ],
)
def test_mistakes_are_rejected_with_the_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text, name="conf.toml")
    with pytest.raises(ConfigError) as e:
        load_config(path, env={})
    assert f"conf.toml: {expected}" in str(e.value)


def test_invalid_toml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[serve]\nport = 1\nhost "x"\n')
    with pytest.raises(ConfigError, match=r"mcp-voice.toml: invalid TOML: .*line 3"):
        load_config(path, env={})


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nothere\.toml: config file not found"):
        load_config(tmp_path / "nothere.toml", env={})
    with pytest.raises(ConfigError, match=r"gone\.toml: config file not found"):
        load_config(env={"MCP_VOICE_CONFIG": str(tmp_path / "gone.toml")})


def test_unset_variable_in_headers_is_named(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL_EXAMPLE), env={})
    with pytest.raises(
        ConfigError, match=r"servers\.remote\.headers\.Authorization: .*TEST_TOKEN is not set"
    ):
        config_server_specs(config, env={})


def test_disabled_server_and_relative_paths(tmp_path: Path) -> None:
    text = (
        '[servers.a]\ncommand = "./bin/server"\ncwd = "work"\n'
        '[servers.b]\nurl = "http://h/mcp"\nenabled = false\n'
    )
    config = load_config(write(tmp_path, text), env={})
    (spec,) = config_server_specs(config, env={})
    assert isinstance(spec.target, StdioServerParameters)
    assert spec.target.command == str(tmp_path.resolve() / "bin" / "server")
    assert Path(spec.target.cwd or "") == tmp_path.resolve() / "work"


class FsSettings(BaseModel):
    model_config = ConfigDict(extra="ignore")
    root: Path = Path(".")
    writable: bool = False

    @field_validator("root")
    @classmethod
    def _absolute(cls, value: Path, info: ValidationInfo) -> Path:
        return value if value.is_absolute() else info.context["base_dir"] / value


def test_plugin_settings_validate_with_the_plugins_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, '[plugins.fs]\nroot = "data"\ntimeout_s = 5\n')
    settings = load_config(path, env={}).plugin_settings("fs", FsSettings)
    assert settings.root == tmp_path.resolve() / "data"
    assert Config().plugin_settings("absent", FsSettings).writable is False

    bad = write(tmp_path, '[plugins.fs]\nwritable = "sometimes"\n', name="bad.toml")
    with pytest.raises(ConfigError) as e:
        load_config(bad, env={}).plugin_settings("fs", FsSettings)
    assert (
        str(e.value)
        == "bad.toml: plugins.fs.writable: Input should be a valid boolean, unable to interpret input"
    )


def test_calendar_secrets_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mcp_voice_calendar import CalendarSettings

    monkeypatch.chdir(tmp_path)
    file = tmp_path / "mcp-voice.toml"
    file.write_text(
        "[plugins.calendar]\n"
        'caldav_url = "https://${DAV_HOST}/cal/"\n'
        'caldav_username = "${DAV_USER}"\n'
        'caldav_password = "${DAV_PASSWORD}"\n'
    )
    config = load_config(file)
    env = {"DAV_HOST": "dav.example", "DAV_USER": "alice", "DAV_PASSWORD": "pa$$word"}
    settings = config.with_env(env).plugin_settings("calendar", CalendarSettings)
    assert settings.caldav_url == "https://dav.example/cal/"
    assert settings.caldav_username == "alice"
    assert settings.caldav_password is not None and settings.caldav_password.get_secret_value() == "pa$$word"
    with pytest.raises(ConfigError) as unset:
        config.with_env({"DAV_HOST": "h", "DAV_USER": "u"}).plugin_settings("calendar", CalendarSettings)
    assert str(unset.value) == (
        "mcp-voice.toml: plugins.calendar.caldav_password: environment variable DAV_PASSWORD is not set"
    )


def test_client_servers_can_be_switched_off() -> None:
    assert Config().session.allow_client_servers is True
    assert parse_config({"session": {"allow_client_servers": False}}).session.allow_client_servers is False


def test_steering_tools_can_be_switched_off_and_reach_the_host() -> None:
    assert host_settings(Config()).running_calls_tool and host_settings(Config()).cancel_call_tool
    config = parse_config({"session": {"running_calls_tool": False, "cancel_call_tool": False}})
    settings = host_settings(config)
    assert settings.running_calls_tool is False and settings.cancel_call_tool is False
    with pytest.raises(ConfigError, match="cancel_call_tool"):
        parse_config({"session": {"cancel_call_tool": "sometimes"}})
