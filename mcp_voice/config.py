"""mcp-voice.toml: pydantic models, loading, and errors that name the key and the file.

Our own tables forbid unknown keys so a typo is an error rather than a silently ignored setting.
`[plugins.NAME]` tables are free-form here and validated by each plugin's own model.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

from mcp import StdioServerParameters
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    PrivateAttr,
    SecretStr,
    ValidationError,
    model_validator,
)

from mcp_voice.tools.spec import BargeIn, ServerSpec

CONFIG_ENV = "MCP_VOICE_CONFIG"
DEFAULT_FILE = "mcp-voice.toml"

M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """A config file that cannot be read or has a bad value; the message names file and key."""


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerConfig(_Table):
    """`[servers.NAME]`: an external MCP server, started as a command or reached by URL."""

    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: Path | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    enabled: bool = True
    tools: list[str] | None = None
    long_running: list[str] = Field(default_factory=list)
    approval: list[str] = Field(default_factory=list)
    timeout_s: PositiveFloat = 30.0
    on_barge_in: BargeIn = "keep"
    max_concurrency: PositiveInt = 4

    @model_validator(mode="after")
    def _one_target(self) -> ServerConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError("set exactly one of 'command' (a stdio server) or 'url' (streamable HTTP)")
        if self.url is not None and not re.match(r"^https?://", self.url):
            raise ValueError(f"url must start with http:// or https:// (got {self.url!r})")
        if self.url is not None and (self.args or self.env or self.cwd):
            raise ValueError("args, env and cwd apply to 'command' servers only")
        if self.command is not None and self.headers:
            raise ValueError("headers apply to 'url' servers only")
        return self


class PolicyKeys(BaseModel):
    """The policy keys every `[plugins.NAME]` table may carry; applied to that plugin's servers."""

    model_config = ConfigDict(extra="ignore")

    tools: list[str] | None = None
    long_running: list[str] | None = None
    approval: list[str] | None = None
    timeout_s: PositiveFloat | None = None
    on_barge_in: BargeIn | None = None
    max_concurrency: PositiveInt | None = None

    def overrides(self) -> dict[str, Any]:
        """Only the keys the user set, ready for `dataclasses.replace(spec, **...)`."""
        values = {k: v for k, v in self.model_dump(exclude_unset=True).items() if v is not None}
        for key in ("long_running", "approval"):
            if key in values:
                values[key] = tuple(values[key])
        return values


class SessionConfig(_Table):
    """`[session]`: the session host's settings (the fields of `session.host.HostSettings`)."""

    register_plugin_tools: bool = True
    async_mode: Literal["placeholder", "deferred"] = "placeholder"
    progress_updates: bool = True
    progress_interval_s: PositiveFloat = 5.0
    elicitation_timeout_s: PositiveFloat = 120.0
    """A question a tool asks the user that has no answer by then is declined."""
    auto_approve: bool = False
    allow_client_servers: bool = True
    """Whether a client's `mcp_server` entry naming an unknown http(s) URL makes the host connect
    to it; turn off when exposing serve to clients you don't trust with outbound requests from
    this machine."""
    dtmf: Literal["respond", "message", "ignore"] = "respond"
    """A keypad press on a phone call: a user text and a response, the text alone, or nothing."""
    dtmf_text: str = "The caller pressed {digit}."
    """The user text for a keypad press; `{digit}` is replaced by the key."""
    client_server_urls: list[str] = Field(default_factory=list)
    """URL patterns (shell-style, e.g. "https://mcp.example.com/*") of MCP servers a client may name
    by URL; empty: clients can name only the host's own servers. Loopback, private and link-local
    hosts must be named by a pattern literally ("http://127.0.0.1:9000/*"). See docs/session.md."""
    client_server_headers: list[str] = Field(default_factory=list)
    """URL patterns to which a client's `mcp_server` headers are passed (none by default)."""
    client_server_timeout_s: PositiveFloat = 5.0
    """How long connecting to a client-named server may take before "could not connect"."""
    host_calls: Literal["mcp", "hidden"] = "mcp"
    """How clients see host tool calls: as hosted-MCP `mcp_call` items, or not at all (GA clients
    that know only function calls); a connection can ask for `?host_calls=hidden` itself."""
    max_session_calls: PositiveInt = 3
    """Host calls one session runs at once; more wait (one session never fills a server)."""
    max_queued_responses: PositiveInt = 16
    """Client `response.create` requests waiting behind an active response; more get an error."""
    readback_wait_s: NonNegativeFloat = 0.25
    """How long the first read-back of a call the client saw end waits for the client's own
    `response.create` (the host learns whether the client asks for read-backs); 0: never waits."""
    max_events_per_s: PositiveFloat = 50.0
    """Client control events (all but audio appends) a second per session, bursts of twice that;
    more are refused with an error."""
    max_message_bytes: PositiveInt = 16 * 2**20
    """A bigger client message gets an error, then close 1009."""
    max_result_chars: PositiveInt = 100_000
    """Tool results injected into the conversation are cut to this many characters."""
    running_calls_tool: bool = True
    """With long-running work in the session, the model gets `mcp_voice__running_calls` (the
    running calls, their elapsed time and last progress); false: it does not."""
    cancel_call_tool: bool = True
    """With long-running work in the session, the model gets `mcp_voice__cancel_call` (cancel a
    running call by tool name or call_id when the user asks); false: it does not."""


class ServeConfig(_Table):
    """`[serve]`: where `mcp-voice serve` listens and which realtime server it talks to."""

    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    upstream: str | None = None
    """"openai", "sim", or a ws(s):// URL; None: "openai" if OPENAI_API_KEY is set, else "sim"."""
    model: str = "gpt-realtime"
    voice: Literal["auto", "tone"] = "auto"
    """The embedded upstream's voice: "auto" speaks and hears with the `voice` extra when it is
    installed, "tone" keeps the simulator's quiet tone and understands no audio."""
    token_env: str | None = None
    """Name of the environment variable holding the clients' bearer token (default MCP_VOICE_TOKEN)."""
    upstream_key_env: str | None = None
    """Name of the environment variable holding the key sent to a ws(s):// upstream (none by default)."""
    api_keys_env: str | None = None
    """Name of the environment variable holding the clients' API keys, comma-separated
    (default MCP_VOICE_API_KEYS). Keys never live in this file."""
    tls_cert: Path | None = None
    """PEM certificate (chain): serve wss:// and https:// instead of ws:// and http://."""
    tls_key: Path | None = None
    """The certificate's PEM private key (both or neither)."""
    max_sessions: int = Field(default=1000, ge=0)
    """Concurrent sessions one process holds (0: no limit); one more gets an error and close 1013."""
    reconnect_attempts: int = Field(default=6, ge=0)
    """After an upstream drop, attempts to reconnect (with backoff) before the session ends (1011)."""
    session_rollover_s: float = Field(default=55 * 60, ge=0)
    """Move to a fresh upstream session at a quiet moment once one is this old (0: never).
    OpenAI ends sessions after 60 minutes (Azure: 30; set 25 * 60 there)."""
    replay_budget_chars: int = Field(default=60_000, ge=1000)
    """Conversation text moved to a new upstream session; older turns are summarised."""
    allowed_hosts: list[str] = Field(default_factory=list)
    """`Host` names clients may use besides the bound address, `localhost`, 127.0.0.1, ::1 and the
    Twilio public URL's host (`"*"`: any, when a proxy in front checks it). Others get 403."""
    allowed_origins: list[str] = Field(default_factory=list)
    """Origins (`https://app.example.com`) of web pages allowed to call serve besides its own
    (`"*"`: any). A browser request from any other origin gets 403."""
    max_body_bytes: int = Field(default=1 << 20, ge=0)
    """Largest HTTP request body (0: no limit); larger ones get 413 before any signature check."""
    state: str | None = None
    """Shared state: "memory" (default) or redis://HOST:PORT/DB (rediss:// with TLS); see docs/deploy.md.
    MCP_VOICE_STATE and --state win over it. Put a password in the environment variable, not here."""
    drain_s: float = Field(default=60.0, ge=0)
    """After SIGTERM, live sessions go on this long (new ones are refused), then close with 1001."""
    lease_s: float = Field(default=10.0, gt=0)
    """An OpenAI call's ownership lease: another process takes a dead owner's call within it."""
    console: bool = True
    """Serve the web console at `GET /` (false: `/` answers 404)."""


class LocalConfig(_Table):
    """`[local]`: the chat model behind `--upstream local` (any OpenAI-compatible Chat Completions API).

    Its key, if it needs one, comes from the environment (MCP_VOICE_LLM_KEY), never this file."""

    llm_url: str | None = None
    """e.g. "http://127.0.0.1:11434/v1" (Ollama); the full .../chat/completions URL works too."""
    llm_model: str | None = None


class Config(_Table):
    """The whole file. `Config()` is the configuration without a file."""

    plugins: dict[str, dict[str, Any]] = Field(default_factory=dict)
    servers: dict[str, ServerConfig] = Field(default_factory=dict)
    session: SessionConfig = Field(default_factory=SessionConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)
    local: LocalConfig = Field(default_factory=lambda: LocalConfig())
    twilio: TwilioConfig = Field(default_factory=lambda: TwilioConfig())
    openai_calls: OpenAICallsConfig = Field(default_factory=lambda: OpenAICallsConfig())
    observe: ObserveConfig = Field(default_factory=lambda: ObserveConfig())
    source: Path | None = Field(default=None, exclude=True)
    """The file it came from (absolute), None for defaults."""
    _env: Mapping[str, str] | None = PrivateAttr(default=None)

    def with_env(self, env: Mapping[str, str]) -> Config:
        """A copy whose `${VAR}` references in plugin tables expand from `env` (default: os.environ)."""
        copy = self.model_copy()
        copy._env = env
        return copy

    @property
    def shown_source(self) -> str:
        """The file as error messages name it: relative to the cwd when below it, else absolute."""
        return _show(self.source)

    def error(self, key: str, message: str) -> ConfigError:
        """A `ConfigError` worded like every other: "FILE: KEY: MESSAGE"."""
        return ConfigError(f"{self.shown_source}: {key}: {message}")

    @property
    def base_dir(self) -> Path:
        """Relative paths in the file resolve against its folder (the cwd without a file)."""
        return self.source.parent if self.source is not None else Path.cwd()

    def resolve_path(self, path: str | Path) -> Path:
        """`path` made absolute against `base_dir` (`~` expanded)."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    def plugin_settings(self, name: str, model: type[M]) -> M:
        """Validate `[plugins.NAME]` with the plugin's model; errors name `plugins.NAME.KEY` and the file.

        `${VAR}` in the table's string values is replaced from the environment first, so secrets
        (a CalDAV password) need not live in the file. Validators can read
        `info.context["base_dir"]` to resolve relative paths.
        """
        env = self._env if self._env is not None else os.environ
        table = _expand_values(self.plugins.get(name, {}), env, self.source, ("plugins", name))
        try:
            return model.model_validate(table, context={"base_dir": self.base_dir})
        except ValidationError as e:
            raise ConfigError(_format_errors(e, self.source, prefix=("plugins", name), model=model)) from None


class ObserveConfig(_Table):
    """`[observe]`: what serve records about sessions beyond its structured log lines and metrics."""

    log_tool_io: bool = False
    """Also log tool arguments and results (they may hold personal data: off by default)."""
    event_log_dir: str | None = None
    """Write one JSONL event log per session into this folder (audio elided); off when unset."""
    event_log_max_bytes: PositiveInt = 10 * 1024 * 1024
    """Each session's event log stops at this size."""


def load_config(path: str | Path | None = None, *, env: Mapping[str, str] = os.environ) -> Config:
    """`path`, else `$MCP_VOICE_CONFIG`, else `./mcp-voice.toml` if present, else defaults."""
    if path is None and env.get(CONFIG_ENV):
        path = env[CONFIG_ENV]
    if path is None:
        if not Path(DEFAULT_FILE).is_file():
            return Config()
        path = DEFAULT_FILE
    file = Path(path).expanduser()
    try:
        with file.open("rb") as fp:
            data = tomllib.load(fp)
    except FileNotFoundError:
        raise ConfigError(f"{_show(file)}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{_show(file)}: is a directory, not a config file") from None
    except OSError as e:
        raise ConfigError(f"{_show(file)}: cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{_show(file)}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{_show(file)}: invalid TOML: {e}") from None
    return parse_config(data, source=file)


def parse_config(data: Mapping[str, Any], *, source: Path | None = None) -> Config:
    """Validate an already-parsed TOML document (`source` only names the file in errors)."""
    source = source.resolve() if source is not None else None
    if "source" in data:
        raise ConfigError(f"{_show(source)}: source: unknown key")
    try:
        config = Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_errors(e, source, model=Config)) from None
    return config.model_copy(update={"source": source})


def config_server_specs(config: Config, *, env: Mapping[str, str] = os.environ) -> list[ServerSpec]:
    """`[servers.NAME]` tables as `ServerSpec`s (disabled ones left out).

    `${VAR}` in `env` and `headers` values is replaced from the environment, so secrets need not
    live in the file. A command server runs in `cwd`, by default the config file's folder.
    """
    specs = []
    for name, server in config.servers.items():
        if not server.enabled:
            continue
        where = ("servers", name)
        target: StdioServerParameters | str
        if server.command is not None:
            command = server.command
            if command.startswith(("./", "../", "~")):
                command = str(config.resolve_path(command))
            cwd = config.resolve_path(server.cwd) if server.cwd is not None else config.base_dir
            target = StdioServerParameters(
                command=command,
                args=list(server.args),
                env=_expand(server.env, env, config.source, (*where, "env")) or None,
                cwd=cwd,
            )
        else:
            target = server.url or ""
        specs.append(
            ServerSpec(
                name=name,
                target=target,
                headers=_expand(server.headers, env, config.source, (*where, "headers")),
                tools=server.tools,
                long_running=tuple(server.long_running),
                approval=tuple(server.approval),
                timeout_s=server.timeout_s,
                on_barge_in=server.on_barge_in,
                max_concurrency=server.max_concurrency,
            )
        )
    return specs


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(
    values: Mapping[str, str], env: Mapping[str, str], source: Path | None, where: Sequence[str]
) -> dict[str, str]:
    out = {}
    for key, value in values.items():

        def sub(m: re.Match[str], key: str = key) -> str:
            if m.group(1) not in env:
                path = ".".join((*where, key))
                raise ConfigError(f"{_show(source)}: {path}: environment variable {m.group(1)} is not set")
            return env[m.group(1)]

        out[key] = _VAR.sub(sub, value)
    return out


def _expand_values(value: Any, env: Mapping[str, str], source: Path | None, where: Sequence[str]) -> Any:
    """`${VAR}` replaced in every string inside `value` (tables and arrays walked); errors name the key."""
    if isinstance(value, str):
        return _expand({where[-1]: value}, env, source, where[:-1])[where[-1]]
    if isinstance(value, Mapping):
        return {k: _expand_values(v, env, source, (*where, str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_values(v, env, source, (*where, str(i))) for i, v in enumerate(value)]
    return value


def _show(source: Path | None) -> str:
    """A file name as the user would recognise it: relative to the cwd when below it."""
    if source is None:
        return "config"
    try:
        return str(source.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(source)


def _format_errors(
    error: ValidationError, source: Path | None, *, prefix: Sequence[str] = (), model: type[BaseModel]
) -> str:
    lines = []
    for item in error.errors():
        loc = [str(part) for part in item["loc"]]
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key" + _suggest(model, item["loc"])
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        path = ".".join([*prefix, *loc])
        lines.append(f"{_show(source)}: {path}: {message}" if path else f"{_show(source)}: {message}")
    return "\n".join(lines)


def _suggest(model: type[BaseModel], loc: Sequence[int | str]) -> str:
    """' (did you mean 'x'?)' for an unknown key, found by walking the models along `loc`."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            current = field.annotation if field else None
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return ""
    if not (isinstance(current, type) and issubclass(current, BaseModel)):
        return ""
    close = difflib.get_close_matches(str(loc[-1]), [f for f in current.model_fields if f != "source"], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class OpenAICallsConfig(_Table):
    """`[openai_calls]`: calls whose audio goes straight to OpenAI (SIP, WebRTC); serve attaches a
    sideband to run the tools. See docs/serve.md."""

    webhook_secret_env: str = "OPENAI_WEBHOOK_SECRET"
    """Environment variable holding the `whsec_...` secret of the webhook; unset: webhooks are off."""
    webhook_secret: SecretStr | None = None
    """The secret itself, if it must live in the file (the variable wins when both are set)."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the OpenAI key used to answer calls and attach sidebands."""
    base_url: str | None = None
    """OpenAI's REST base; None: `$OPENAI_BASE_URL`, else https://api.openai.com/v1."""
    websocket_base_url: str | None = None
    """The sideband's WebSocket base; None: `base_url` with ws:// or wss://."""
    model: str | None = None
    """The model calls are accepted with; None: `[serve] model`."""
    instructions: str | None = None
    voice: str | None = None
    approval: Literal["auto", "refuse"] = "refuse"
    """Tools that need approval on a call (nobody can click on a phone): run them, or refuse them."""
    webrtc: bool = True
    """Serve `POST /v1/realtime/calls` for browsers (needs the OpenAI key)."""


class TwilioConfig(_Table):
    """`[twilio]`: phone calls through Twilio Media Streams (on once `public_url` is set)."""

    public_url: str | None = None
    """The base URL Twilio reaches serve at, e.g. https://abc.ngrok.app (or `--public-url`)."""
    auth_token_env: str | None = None
    """Name of the environment variable holding the Twilio auth token (default TWILIO_AUTH_TOKEN)."""
    greeting: str | None = None
    """Instructions for a first response when a call connects (None: wait for the caller)."""


Config.model_rebuild()
