"""`mcp-voice`: the command line.

Convention for command modules: each module in `COMMANDS` (mcp_voice/cli/<module>.py) exposes

    def add_parser(subparsers: argparse._SubParsersAction) -> None

which adds its sub-command(s) with `parents=[common.common_options()]` (for --config, --plugins,
--block-plugins) and `set_defaults(func=run)`, where `run(args: argparse.Namespace) -> int`
returns the exit code. A module that is not there (yet) is skipped. `run` reports problems by
raising `common.CliError(message, code)` or `ConfigError`; `main` prints them to stderr without
a traceback. Exit codes: 0 ok, 1 failure at run time, 2 bad input (see `common`).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from mcp_voice.cli.common import FAILURE, USAGE, CliError, warn
from mcp_voice.config import ConfigError

COMMANDS = ("plugins", "tools", "serve", "mcp")
"""Command modules, in the order `--help` lists them."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcp-voice",
        description="Plug MCP tool servers into realtime voice sessions.",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log what the MCP servers and libraries report"
    )
    parser.add_argument("--version", action="version", version=f"mcp-voice {_version()}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in COMMANDS:
        module_name = f"{__name__}.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name == module_name:
                continue
            _add_broken(subparsers, name, e)
        except Exception as e:  # one broken command must not take the others down
            _add_broken(subparsers, name, e)
        else:
            module.add_parser(subparsers)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mcp-voice")
    except PackageNotFoundError:  # run from a source tree that is not installed
        from mcp_voice import __version__

        return __version__


def _add_broken(subparsers: argparse._SubParsersAction, name: str, error: Exception) -> None:
    message = f"the {name} command is unavailable: {type(error).__name__}: {error}"

    def run(args: argparse.Namespace) -> int:
        raise CliError(message, FAILURE)

    parser = subparsers.add_parser(
        name, help=f"(unavailable: run `mcp-voice {name}` to see why)", add_help=False
    )
    parser.add_argument("ignored", nargs=argparse.REMAINDER)
    parser.set_defaults(func=run)


def _configure_logging(verbose: bool) -> None:
    """Warnings as one `mcp-voice:` line each; the MCP library's own noise only with -v.

    Tool errors already reach the user as the call's output, so the SDK's error logs repeat them.
    """
    logging.basicConfig(
        format="mcp-voice: %(name)s: %(message)s", level=logging.INFO if verbose else logging.WARNING
    )
    logging.getLogger("mcp").setLevel(logging.NOTSET if verbose else logging.CRITICAL)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (the console script passes it to `sys.exit`)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, or a usage error argparse already printed
        return e.code if isinstance(e.code, int) else USAGE
    _configure_logging(args.verbose)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return USAGE
    try:
        return int(func(args))
    except CliError as e:
        warn(f"error: {e}")
        return e.code
    except ConfigError as e:
        for line in str(e).splitlines():
            warn(f"error: {line}")
        return USAGE
    except KeyboardInterrupt:
        warn("interrupted")
        return 130
    except BrokenPipeError:
        return FAILURE
