"""`mcp-voice serve`: run the Realtime-compatible WebSocket endpoint until Ctrl-C / SIGTERM."""

from __future__ import annotations

import argparse
import logging
from typing import Any

import anyio

from mcp_voice.cli import common

DESCRIPTION = """\
Serve ws://HOST:PORT/v1/realtime: any Realtime client (the openai SDK, openai-agents, a browser)
connects there and gets a session whose model can call the configured MCP tools.
Prints one line when ready: mcp-voice listening on ws://HOST:PORT/v1/realtime (upstream: NAME).

Secrets come from the environment, never the command line: OPENAI_API_KEY (upstream openai),
MCP_VOICE_TOKEN (the token clients must present; required to listen beyond loopback).
"""


SERVER_STARTUP_WAIT_S = 5.0
"""How long the listening line waits for a slow MCP server; after that it connects in the background."""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        parents=[common.common_options()],
        help="serve the Realtime WebSocket endpoint",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    group = parser.add_argument_group("endpoint (defaults from the config's [serve] table)")
    group.add_argument("--host", help="address to listen on (default 127.0.0.1; others need a token)")
    group.add_argument("--port", type=int, help="port (default 8765; 0 picks a free one)")
    group.add_argument(
        "--upstream", help="openai | sim | ws(s)://URL (default: openai if OPENAI_API_KEY is set, else sim)"
    )
    group.add_argument("--model", help="model for clients that name none (default gpt-realtime)")
    group.add_argument(
        "--token-env", metavar="NAME", help="variable holding the client token (default MCP_VOICE_TOKEN)"
    )
    group.add_argument(
        "--upstream-key-env",
        metavar="NAME",
        help="variable whose value goes upstream as the bearer key (default: OPENAI_API_KEY, to openai only)",
    )
    group.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mcp_voice.serve.auth import AuthConfigError
    from mcp_voice.serve.run import resolve_options, serve
    from mcp_voice.serve.targets import TargetError

    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    setup = common.load_setup(args)  # a bad config file raises ConfigError: main reports it
    try:
        options = resolve_options(
            setup.config,
            host=args.host,
            port=args.port,
            upstream=args.upstream,
            model=args.model,
            token_env=args.token_env,
            upstream_key_env=args.upstream_key_env,
        )
    except (AuthConfigError, TargetError) as exc:
        raise common.CliError(str(exc)) from None
    common.report_plugin_errors(setup.errors)
    try:
        anyio.run(
            lambda: serve(
                setup.registry(startup_wait_s=SERVER_STARTUP_WAIT_S),
                options,
                log_level=args.log_level,
                load_errors=setup.errors,
                observer=setup.session_observer(),
            )
        )
    except OSError as exc:
        where = f"{options.host}:{options.port}"
        raise common.CliError(f"cannot listen on {where}: {exc.strerror or exc}", common.FAILURE) from None
    return 0
