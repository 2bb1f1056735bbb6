"""`mcp-voice mcp NAME`: run plugin NAME's MCP server(s) standalone, for any MCP client."""

from __future__ import annotations

import argparse
import os

import anyio

from mcp_voice.cli import common

DESCRIPTION = """\
Run the MCP server(s) of one plugin on their own, built from the same config as in a session
(the filesystem jail, the calendar store), so Claude Desktop, the MCP Inspector or another agent
can use them. stdio by default (one server per process); --transport http serves streamable HTTP
at http://HOST:PORT/mcp (or /<server>/mcp for a plugin with several servers).

Beyond loopback the HTTP endpoint requires an API key, like serve: MCP_VOICE_API_KEYS
(comma-separated) or MCP_VOICE_TOKEN (or --token-env).
Example for Claude Desktop: {"command": "mcp-voice", "args": ["mcp", "filesystem"]}
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "mcp",
        parents=[common.common_options()],
        help="run one plugin's MCP server(s) over stdio or HTTP",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", metavar="NAME", help="the plugin (as `mcp-voice plugins` lists it)")
    parser.add_argument("--server", metavar="SERVER", help="only this server of the plugin")
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio", help="default: stdio")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP: address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8766, help="HTTP: port (default 8766; 0 picks a free one)"
    )
    parser.add_argument(
        "--token-env",
        metavar="NAME",
        help="HTTP: variable holding the client token (default MCP_VOICE_TOKEN)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mcp_voice.plugins import did_you_mean
    from mcp_voice.serve import auth
    from mcp_voice.serve.keys import resolve_api_keys
    from mcp_voice.serve.origin import HostPolicy
    from mcp_voice.serve.plugin_mcp import PluginServerError, run_http, run_stdio, servable
    from mcp_voice.serve.run import bind_socket

    setup = common.load_setup(args)
    known = setup.plugins.installed
    if args.name not in known:
        hint = did_you_mean(args.name, known)
        raise common.CliError(
            f"no plugin named {args.name!r}{hint} (installed: {', '.join(known) or 'none'})"
        )
    if args.name in setup.errors:
        common.report_plugin_errors({args.name: setup.errors[args.name]})
        raise common.CliError(f"plugin {args.name} failed to load", common.FAILURE)
    status = setup.plugins.plugins[args.name].status
    if status != "loaded":
        raise common.CliError(f"plugin {args.name} is {status} (see --plugins / --block-plugins)")
    try:
        servers = servable(setup.specs, args.name, args.server)
        if args.transport == "stdio":
            anyio.run(run_stdio, servers)
            return 0
        keys = resolve_api_keys(os.environ, token_env=args.token_env)
        auth.check_bind(args.host, keys, offer_insecure=False)
    except (PluginServerError, auth.AuthConfigError) as exc:
        raise common.CliError(str(exc)) from None
    try:
        sock = bind_socket(args.host, args.port)
    except OSError as exc:
        message = f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
        raise common.CliError(message, common.FAILURE) from None
    serve_table = setup.config.serve
    policy = HostPolicy.build(serve_table.allowed_hosts, serve_table.allowed_origins)
    with sock:
        anyio.run(lambda: run_http(servers, sock, host=args.host, keys=keys, policy=policy))
    return 0
