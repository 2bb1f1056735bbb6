"""What every command shares: the --config/--plugins/--block-plugins options and error reporting."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping

from mcp_voice.api import ToolSetup, load_tools
from mcp_voice.plugins import ALLOW_ENV, BLOCK_ENV, parse_names

USAGE = 2
"""Exit code for bad input: arguments, config, unknown tool (argparse uses 2 as well)."""
FAILURE = 1
"""Exit code for a failure at run time: a tool error, a plugin or server that did not start."""


class CliError(Exception):
    """A message for the user (no traceback) and the exit code to leave with."""

    def __init__(self, message: str, code: int = USAGE) -> None:
        super().__init__(message)
        self.code = code


def common_options() -> argparse.ArgumentParser:
    """A parent parser (`parents=[common_options()]`) with the options every command takes."""
    parser = argparse.ArgumentParser(add_help=False)
    # The global flag, accepted after the command too (`mcp-voice tools -v`); SUPPRESS keeps a
    # `-v` given before the command from being reset by this default.
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="same as mcp-voice -v"
    )
    group = parser.add_argument_group("configuration")
    group.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $MCP_VOICE_CONFIG, else ./mcp-voice.toml if present)",
    )
    group.add_argument(
        "--plugins",
        metavar="A,B",
        help=f"load only these installed plugins (default: ${ALLOW_ENV}, else all; '' for none)",
    )
    group.add_argument(
        "--block-plugins",
        metavar="A,B",
        default="",
        help=f"never load these plugins (added to ${BLOCK_ENV})",
    )
    return parser


def load_setup(args: argparse.Namespace, env: Mapping[str, str] = os.environ) -> ToolSetup:
    """Config and plugins as the common options say; a bad config file raises `ConfigError`."""
    setup = load_tools(
        args.config,
        plugins=parse_names(args.plugins),
        block=parse_names(args.block_plugins) or [],
        env=env,
    )
    for message in setup.plugins.warnings:
        warn(f"warning: {message}")
    return setup


def warn(message: str) -> None:
    print(f"mcp-voice: {message}", file=sys.stderr)


def report_plugin_errors(errors: Mapping[str, str]) -> None:
    """One stderr line per problem, each naming the plugin (or config key) it belongs to."""
    for name, message in errors.items():
        label = name if name.startswith("servers.") else f"plugin {name}"
        for i, line in enumerate(message.splitlines() or [""]):
            warn(f"{label}: {line}" if i == 0 else f"  {line}")
