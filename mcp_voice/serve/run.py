"""Run the serve app: check auth, bind, open the tools once, serve with uvicorn, print one line.

The socket is bound here (not by uvicorn) so `--port 0` can report the port it got, and so a
refused configuration (no token beyond loopback) never opens a port at all. Signals are ours:
SIGTERM drains (new sessions refused, live ones go on up to `drain_s`, see `drain.py`); SIGINT
closes the sessions at once; either way the tool servers stop and the exit status is 0.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

import anyio
import uvicorn
from starlette.types import ASGIApp

from mcp_voice.protocol.reconnect import ReconnectPolicy
from mcp_voice.serve import auth, keys, redact
from mcp_voice.serve.app import create_app
from mcp_voice.serve.drain import Drain, drain_then_stop
from mcp_voice.serve.handshake import uvicorn_limits
from mcp_voice.serve.openai_calls import calls_settings
from mcp_voice.serve.settings import ServeSettings
from mcp_voice.serve.state import STATE_ENV, open_state
from mcp_voice.serve.targets import (
    TargetError,
    check_target,
    default_upstream,
    display_name,
    upstream_api_key,
)
from mcp_voice.serve.tls import TlsFiles, resolve_tls
from mcp_voice.serve.twilio.settings import resolve_twilio, startup_notes
from mcp_voice.session.context import SessionObserver
from mcp_voice.session.dtmf import DEFAULT_DTMF_TEXT, DtmfAction
from mcp_voice.session.host import HostSettings
from mcp_voice.sim.config import LlmSettings, SimConfig
from mcp_voice.sim.voice import default_speech
from mcp_voice.tools.registry import ToolRegistry
from mcp_voice.upstreams import EMBEDDED

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_MODEL = "gpt-realtime"
LLM_KEY_ENV = "MCP_VOICE_LLM_KEY"
WS_MAX_SIZE = 17 * 1024 * 1024
"""Realtime allows 15 MiB per `input_audio_buffer.append`; leave room for the JSON around it, and
for the session's own `max_message_bytes` (16 MiB) to answer with an error before this closes."""


@dataclass(frozen=True)
class ServeOptions:
    """Where to listen and what each session gets; built by `resolve_options`."""

    host: str
    port: int
    settings: ServeSettings
    tls: TlsFiles | None = None
    """Serve wss:// and https:// with this certificate."""


def resolve_options(
    config: Any,
    *,
    host: str | None = None,
    port: int | None = None,
    upstream: str | None = None,
    model: str | None = None,
    token_env: str | None = None,
    upstream_key_env: str | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    env: Mapping[str, str] = os.environ,
    public_url: str | None = None,
    insecure: bool = False,
    state: str | None = None,
    llm_url: str | None = None,
    llm_model: str | None = None,
    voice: str | None = None,
) -> ServeOptions:
    """Command line over the config's `[serve]` table over defaults. Raises on unsafe or bad setups."""
    table = getattr(config, "serve", None)

    def pick(value: Any, key: str, default: Any) -> Any:
        if value is not None:
            return value
        configured = getattr(table, key, None)
        return default if configured is None else configured

    host = pick(host, "host", DEFAULT_HOST)
    target = check_target(pick(upstream, "upstream", None) or default_upstream(env))
    token = auth.resolve_token(env, pick(token_env, "token_env", None))
    api_keys = keys.resolve_api_keys(env, keys_env=pick(None, "api_keys_env", None))
    auth.check_bind(host, (*api_keys, *((token,) if token else ())), insecure=insecure)
    settings = ServeSettings(
        upstream=target,
        model=pick(model, "model", DEFAULT_MODEL),
        api_key=upstream_api_key(target, env, pick(upstream_key_env, "upstream_key_env", None)),
        token=token,
        host=host_settings(config),
        twilio=resolve_twilio(config, public_url=public_url, env=env),
        calls=calls_settings(config, env),
        **observe_settings(config),
        api_keys=api_keys,
        **serve_limits(table),
        state=state_url(table, state, env),
        console=bool(getattr(table, "console", True)),
        sim=embedded_config(
            target, config, env, llm_url=llm_url, llm_model=llm_model, voice=pick(voice, "voice", "auto")
        ),
    )
    if tls_cert is not None or tls_key is not None:  # the command line's pair, resolved against the cwd
        tls = resolve_tls(tls_cert, tls_key)
    else:
        tls = resolve_tls(
            getattr(table, "tls_cert", None), getattr(table, "tls_key", None), _base_dir(config)
        )
    return ServeOptions(host=host, port=int(pick(port, "port", DEFAULT_PORT)), settings=settings, tls=tls)


def embedded_config(
    target: str,
    config: Any,
    env: Mapping[str, str],
    *,
    llm_url: str | None = None,
    llm_model: str | None = None,
    voice: str = "auto",
) -> SimConfig:
    """The embedded upstream's voice (the `voice` extra's, when installed) and, for `local`, its brain."""
    if target not in EMBEDDED:
        return SimConfig()
    llm = None
    if target == "local":
        table = getattr(config, "local", None)
        url = llm_url or getattr(table, "llm_url", None)
        name = llm_model or getattr(table, "llm_model", None)
        if not url or not name:
            raise TargetError(
                "upstream local needs a chat model: --llm-url URL --llm-model NAME "
                "(or [local] llm_url, llm_model)"
            )
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise TargetError(f"--llm-url must be an http(s):// URL, not {url!r}")
        llm = LlmSettings(url=url, model=name, api_key=env.get(LLM_KEY_ENV) or None)
    return SimConfig(speech=default_speech() if voice == "auto" else None, llm=llm)


def voice_lines(settings: ServeSettings) -> list[str]:
    """What the embedded upstream speaks and hears with, and which model answers (for the start lines)."""
    if settings.upstream not in EMBEDDED:
        return []
    speech = settings.sim.speech
    lines = [
        f"  voice: {speech.describe()}"
        if speech
        else "  voice: a tone, no hearing (the voice extra speaks and hears: pip install 'mcp-voice[voice]')"
    ]
    if settings.sim.llm is not None:
        lines.append(f"  brain: {settings.sim.llm.model} at {display_url(settings.sim.llm.url)}")
    return lines


def display_url(url: str) -> str:
    """An http(s) URL without credentials or query, for a log line."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _base_dir(config: Any) -> Path | None:
    base = getattr(config, "base_dir", None)
    return base if isinstance(base, Path) else None


def observe_settings(config: Any) -> dict[str, Any]:
    """The config's `[observe]` table as `ServeSettings` fields (none without the table)."""
    table = getattr(config, "observe", None)
    if table is None:
        return {}
    directory = table.event_log_dir
    if directory is not None and hasattr(config, "resolve_path"):
        directory = str(config.resolve_path(directory))
    return {
        "event_log_dir": directory,
        "event_log_max_bytes": table.event_log_max_bytes,
        "log_tool_io": table.log_tool_io,
    }


def serve_limits(table: Any) -> dict[str, Any]:
    """The `[serve]` table's reconnect, session-count and edge (hosts, origins, body size) keys."""
    if table is None or not hasattr(table, "reconnect_attempts"):
        return {}
    policy = ReconnectPolicy(
        attempts=table.reconnect_attempts,
        rollover_after_s=table.session_rollover_s or None,
        replay_budget_chars=table.replay_budget_chars,
    )
    return {
        "reconnect": policy,
        "max_sessions": table.max_sessions or None,
        "allowed_hosts": tuple(getattr(table, "allowed_hosts", ())),
        "allowed_origins": tuple(getattr(table, "allowed_origins", ())),
        "max_body_bytes": getattr(table, "max_body_bytes", 1 << 20) or None,
        "drain_s": table.drain_s,
        "lease_s": table.lease_s,
    }


def state_url(table: Any, given: str | None, env: Mapping[str, str]) -> str:
    """`--state` over `MCP_VOICE_STATE` over `[serve] state` over "memory"; refused early when unusable."""
    url = given or env.get(STATE_ENV) or getattr(table, "state", None) or "memory"
    open_state(url)  # raises StateConfigError for a scheme (or a missing client) serve cannot use
    return str(url)


def host_settings(config: Any) -> HostSettings:
    """The config's `[session]` table as `HostSettings` (keys HostSettings lacks are ignored)."""
    session = getattr(config, "session", None)
    if session is None:
        return HostSettings()
    values = session.model_dump() if hasattr(session, "model_dump") else dict(session)
    names = {f.name for f in dataclasses.fields(HostSettings)}
    chosen = {k: v for k, v in values.items() if k in names}
    if "dtmf" in chosen:
        text = values.get("dtmf_text") or DEFAULT_DTMF_TEXT
        chosen["dtmf"] = DtmfAction(mode=chosen["dtmf"], text=text)
    return HostSettings(**chosen)


def report_servers(registry: ToolRegistry, err: TextIO) -> None:
    """One stderr line per server that failed to start (with why), or is still starting."""
    for name, message in registry.errors.items():
        print(f"mcp-voice: MCP server {name!r} failed to start: {message}", file=err, flush=True)
    for name in getattr(registry, "pending", ()):
        print(
            f"mcp-voice: MCP server {name!r} is still starting; its tools are added when it is up",
            file=err,
            flush=True,
        )


def listening_line(host: str, port: int, upstream: str, *, tls: bool = False) -> str:
    """The one line other programs wait for."""
    shown = f"[{host}]" if ":" in host else host
    scheme = "wss" if tls else "ws"
    return (
        f"mcp-voice listening on {scheme}://{shown}:{port}/v1/realtime (upstream: {display_name(upstream)})"
    )


def console_line(host: str, port: int, *, tls: bool = False) -> str:
    """Where a person opens the web console (a wildcard bind is shown as loopback, which it includes)."""
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    return f"  console: {'https' if tls else 'http'}://{shown}:{port}/"


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on host:port (port 0: any free port)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


class _Server(uvicorn.Server):
    """uvicorn without its signal handling, with an event for "started" and one for "stopped"."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = anyio.Event()
        self.stopped = anyio.Event()
        self.before_shutdown: Callable[[], Awaitable[None]] | None = None
        """Runs before uvicorn drops the connections (which would close them 1012, no reason)."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.before_shutdown is not None:
            await self.before_shutdown()
        await super().shutdown(sockets=sockets)

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()

    async def run_on(self, sock: socket.socket) -> None:
        try:
            await self.serve(sockets=[sock])
        finally:
            self.stopped.set()
            self.ready.set()


@asynccontextmanager
async def running(
    app: ASGIApp, sock: socket.socket, *, log_level: str = "warning", tls: TlsFiles | None = None
) -> AsyncIterator[_Server]:
    """Serve `app` on `sock` until the block ends (or `server.should_exit` is set)."""
    config = uvicorn.Config(
        app,
        lifespan="off",
        ws="websockets-sansio",
        ws_max_size=WS_MAX_SIZE,
        ws_per_message_deflate=False,  # base64 audio barely compresses; deflate costs CPU per frame
        log_config=None,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
        **uvicorn_limits(),
        ssl_certfile=None if tls is None else str(tls.cert),
        ssl_keyfile=None if tls is None else str(tls.key),
    )
    server = _Server(config)
    endpoint = getattr(getattr(app, "state", None), "endpoint", None)
    server.before_shutdown = getattr(endpoint, "shutdown", None)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.run_on, sock)
        await server.ready.wait()
        if not server.started:
            raise RuntimeError("the server failed to start")
        try:
            yield server
        finally:
            server.should_exit = True


@contextmanager
def _stop_on_signals(server: _Server, drain: Drain | None = None) -> Iterator[None]:
    """First SIGTERM: drain (`drain_then_stop`); first SIGINT: close the sessions and stop.
    Any second signal: stop at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: object) -> None:
        if signum == signal.SIGTERM and drain is not None and not drain.active and not server.should_exit:
            drain.begin()
            return
        server.force_exit = server.should_exit or (drain is not None and drain.active)
        server.should_exit = True

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


async def serve(
    registry: ToolRegistry,
    options: ServeOptions,
    *,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    log_level: str = "warning",
    load_errors: Mapping[str, str] | None = None,
    observer: SessionObserver | None = None,
    plugins: Sequence[str] = (),
) -> None:
    """Serve until a signal. Starts `registry` (shared by every session), binds, prints the line."""
    sock = bind_socket(options.host, options.port)
    port = sock.getsockname()[1]
    with sock:  # closed even when the registry or uvicorn fails to start
        await _serve_on(
            sock,
            port,
            registry,
            options,
            out=out,
            err=err,
            log_level=log_level,
            load_errors=load_errors,
            observer=observer,
            plugins=plugins,
        )


async def _serve_on(
    sock: socket.socket,
    port: int,
    registry: ToolRegistry,
    options: ServeOptions,
    *,
    out: TextIO,
    err: TextIO = sys.stderr,
    log_level: str,
    load_errors: Mapping[str, str] | None,
    observer: SessionObserver | None = None,
    plugins: Sequence[str] = (),
) -> None:
    redact.install([options.settings.api_key, options.settings.token, *options.settings.api_keys])
    async with registry:
        report_servers(registry, err)
        app = create_app(registry, options.settings, load_errors=load_errors, observer=observer)
        try:
            async with running(app, sock, log_level=log_level, tls=options.tls) as server:
                with _stop_on_signals(server, app.state.drain):
                    line = listening_line(
                        options.host, port, options.settings.upstream, tls=options.tls is not None
                    )
                    print(line, file=out, flush=True)
                    for summary in [
                        *loaded_summary(registry, plugins, load_errors),
                        *voice_lines(options.settings),
                    ]:
                        print(summary, file=out, flush=True)
                    if options.settings.console:
                        print(
                            console_line(options.host, port, tls=options.tls is not None),
                            file=out,
                            flush=True,
                        )
                    for note in startup_notes(options.settings.twilio):
                        print(note, file=sys.stderr, flush=True)
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(drain_then_stop, server, app, err)
                        start_background(tg, app)
                        await server.stopped.wait()
                        tg.cancel_scope.cancel()
        finally:
            await app.state.store.aclose()


def start_background(tg: anyio.abc.TaskGroup, app: Any) -> None:
    """What runs beside the server: the watch that takes over OpenAI calls whose owner died."""
    ownership = getattr(app.state, "ownership", None)
    if ownership is not None:
        tg.start_soon(ownership.watch)


def loaded_summary(
    registry: ToolRegistry, plugins: Sequence[str] = (), load_errors: Mapping[str, str] | None = None
) -> list[str]:
    """What serve loaded, under the listening line: plugins, tools per server, what failed."""
    tools = registry.tools()
    per_server = [f"{name} {sum(1 for t in tools if t.server == name)}" for name in registry.servers]
    lines = [
        f"  plugins: {', '.join(plugins) or 'none'}",
        f"  tools: {len(tools)}" + (f" ({', '.join(per_server)})" if per_server else ""),
    ]
    lines += [f"  {name}: {spec.summary}" for name, spec in registry.servers.items() if spec.summary]
    failed = sorted({*(load_errors or {}), *registry.errors})
    if failed:
        lines.append(f"  failed: {', '.join(failed)} (see the messages above)")
    return lines
