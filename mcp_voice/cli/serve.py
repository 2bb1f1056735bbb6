"""`mcp-voice serve`: run the Realtime-compatible WebSocket endpoint until Ctrl-C / SIGTERM."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any
from urllib.parse import urlsplit

import anyio

from mcp_voice.cli import common

DESCRIPTION = """\
Serve ws://HOST:PORT/v1/realtime: any Realtime client (the openai SDK, openai-agents, a browser)
connects there and gets a session whose model can call the configured MCP tools.
Prints one line when ready: mcp-voice listening on ws://HOST:PORT/v1/realtime (upstream: NAME),
then what it loaded (plugins, tools). With --tls-cert/--tls-key it serves wss:// and https://.
Clients that know only function calls can connect with ?host_calls=hidden (see docs/session.md).

Secrets come from the environment, never the command line: OPENAI_API_KEY (upstream openai),
MCP_VOICE_LLM_KEY (upstream local: the chat API's key, if it needs one),
MCP_VOICE_API_KEYS (comma-separated API keys clients present; MCP_VOICE_TOKEN counts as one more):
a key is required to listen beyond loopback unless --insecure. A key also mints ephemeral client
secrets (POST /v1/realtime/client_secrets) and reads GET /metrics.
TWILIO_AUTH_TOKEN (phone calls: Twilio's signatures are checked with it).
OpenAI SIP calls and WebRTC (POST /openai/webhook, POST /v1/realtime/calls; docs/openai-calls.md):
OPENAI_WEBHOOK_SECRET (the whsec_ webhook secret), OPENAI_BASE_URL (default https://api.openai.com/v1).
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
        "--upstream",
        help="openai | sim | local | ws(s)://URL (default: openai if OPENAI_API_KEY is set, else sim)",
    )
    group.add_argument(
        "--llm-url",
        metavar="URL",
        help="upstream local: an OpenAI-compatible Chat Completions API (e.g. http://127.0.0.1:11434/v1)",
    )
    group.add_argument("--llm-model", metavar="NAME", help="upstream local: the chat model to ask")
    group.add_argument(
        "--voice",
        choices=["auto", "tone"],
        help="upstream sim/local: auto speaks and hears with the voice extra when installed (default); "
        "tone keeps the quiet tone and no hearing",
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
    group.add_argument(
        "--insecure",
        action="store_true",
        help="allow listening beyond loopback without API keys (warns on every start; not on a network)",
    )
    group.add_argument(
        "--public-url",
        metavar="URL",
        help="the https:// base URL Twilio reaches this server at; turns on phone calls (/twilio/voice)",
    )
    group.add_argument(
        "--tls-cert", metavar="PATH", help="PEM certificate: serve wss:// (default: [serve] tls_cert)"
    )
    group.add_argument(
        "--tls-key", metavar="PATH", help="PEM private key of --tls-cert (default: [serve] tls_key)"
    )
    group.add_argument(
        "--state",
        metavar="URL",
        help="shared state: memory or redis://HOST:PORT/DB (default: MCP_VOICE_STATE, [serve] state, memory)",
    )
    group.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="how much serve logs to stderr (default: warning)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mcp_voice.serve import redact
    from mcp_voice.serve.auth import INSECURE_WARNING, AuthConfigError, is_loopback
    from mcp_voice.serve.run import resolve_options, serve
    from mcp_voice.serve.state import StateConfigError
    from mcp_voice.serve.targets import TargetError
    from mcp_voice.serve.tls import TlsConfigError
    from mcp_voice.serve.twilio.settings import TwilioConfigError

    redact.install()  # before the first log line: no key or token in any line, at any level
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(args.log_level.upper())  # main() may have configured the root already
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
            public_url=args.public_url,
            insecure=args.insecure,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            state=args.state,
            llm_url=args.llm_url,
            llm_model=args.llm_model,
            voice=args.voice,
        )
    except (AuthConfigError, TargetError, TlsConfigError, TwilioConfigError, StateConfigError) as exc:
        raise common.CliError(str(exc)) from None
    redact.add_secrets([options.settings.api_key, options.settings.token, *options.settings.api_keys])
    redact.add_secrets([options.settings.twilio.auth_token if options.settings.twilio else None])
    redact.add_secrets([urlsplit(options.settings.state).password])
    llm = options.settings.sim.llm
    redact.add_secrets([llm.api_key if llm else None])  # the chat API's key: never in a log line
    if args.insecure and not (options.settings.api_keys or options.settings.token):
        where = "" if is_loopback(options.host) else f" (listening on {options.host})"
        print(INSECURE_WARNING + where, file=sys.stderr, flush=True)
    common.report_plugin_errors(setup.errors)
    try:
        anyio.run(
            lambda: serve(
                setup.registry(startup_wait_s=SERVER_STARTUP_WAIT_S),
                options,
                log_level=args.log_level,
                load_errors=setup.errors,
                observer=setup.session_observer(),
                plugins=[name for name, info in setup.plugins.plugins.items() if info.status == "loaded"],
            )
        )
    except OSError as exc:
        where = f"{options.host}:{options.port}"
        raise common.CliError(f"cannot listen on {where}: {exc.strerror or exc}", common.FAILURE) from None
    return 0
