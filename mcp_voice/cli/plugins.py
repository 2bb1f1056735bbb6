"""`mcp-voice plugins`: which plugins are installed, which loaded, what they registered, what failed."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from mcp_voice.cli.common import FAILURE, common_options, load_setup
from mcp_voice.plugins import PluginInfo


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plugins",
        parents=[common_options()],
        help="list plugins: version, servers, load errors",
        description="List installed plugins with their version, the MCP servers they register and "
        "any error while loading them. Exits 1 if any plugin failed.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    setup = load_setup(args)
    infos = dict(setup.plugins.plugins)
    other_errors = {}
    for name, message in setup.errors.items():
        if name in infos:
            infos[name].status, infos[name].error = "error", message
            infos[name].servers = []
        else:
            other_errors[name] = message
    if args.json:
        rows = [
            {
                "name": i.name,
                "version": i.version,
                "package": i.package,
                "status": i.status,
                "servers": i.servers,
                "error": i.error,
            }
            for i in infos.values()
        ]
        # every problem, whoever it belongs to: a plugin's own is in its row and here
        print(json.dumps({"plugins": rows, "errors": dict(setup.errors)}, indent=2))
    else:
        _print_table(list(infos.values()))
        errors = [*((i.name, i.error) for i in infos.values() if i.error), *other_errors.items()]
        if errors:
            print("\nerrors:")
        for name, message in errors:
            print(f"  {name}: " + "\n    ".join(str(message).splitlines()))
    return FAILURE if setup.errors else 0


def _print_table(infos: Sequence[PluginInfo]) -> None:
    if not infos:
        print("no plugins installed")
        return
    header = ("NAME", "VERSION", "PACKAGE", "STATUS", "SERVERS")
    rows = [header] + [(i.name, i.version, i.package, i.status, ", ".join(i.servers) or "-") for i in infos]
    widths = [max(len(row[col]) for row in rows) for col in range(len(header) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])
