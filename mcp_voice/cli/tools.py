"""`mcp-voice tools` (what the model sees) and `mcp-voice call` (run one tool as the model would)."""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from collections.abc import Mapping
from typing import Any

import anyio

from mcp_voice.cli.common import (
    FAILURE,
    USAGE,
    CliError,
    common_options,
    load_setup,
    report_plugin_errors,
    warn,
)
from mcp_voice.tools.registry import ToolRegistry
from mcp_voice.tools.spec import HostTool, ToolResult


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    tools = subparsers.add_parser(
        "tools",
        parents=[common_options()],
        help="list the tools the model sees",
        description="Start every configured MCP server and list the tools exactly as the realtime "
        "model sees them: name, description, policy, parameters. Exits 1 if a plugin or server "
        "failed (the others are still listed).",
    )
    tools.add_argument(
        "--json",
        action="store_true",
        help='print {"tools": [the session.tools entries], "policy": {name: ...}, "errors": {...}}',
    )
    tools.add_argument(
        "--server", action="append", metavar="NAME", help="only this server's tools (repeatable)"
    )
    tools.set_defaults(func=run_tools)

    call = subparsers.add_parser(
        "call",
        parents=[common_options()],
        help="call one tool and print its output",
        description="Call a tool by the name the model sees (e.g. filesystem__read_file) and print the "
        "function_call_output the model would get. Exits 1 on a tool error (including a refused "
        "path), 2 on bad input (including arguments the tool's schema rejects).",
    )
    call.add_argument("name", help="tool name as `mcp-voice tools` shows it")
    call.add_argument("--args", default="{}", metavar="JSON", help="arguments as a JSON object (default: {})")
    call.add_argument("--timeout", type=float, metavar="SECONDS", help="override the tool's timeout")
    call.add_argument("--json", action="store_true", help="print the whole result as JSON")
    call.set_defaults(func=run_call)


def run_tools(args: argparse.Namespace) -> int:
    setup = load_setup(args)
    report_plugin_errors(setup.errors)

    # Errors leave the registry's block as values: raised there, they would come out of its
    # task group wrapped in an ExceptionGroup.
    async def listing() -> tuple[list[HostTool], dict[str, str]] | CliError:
        async with setup.registry() as registry:
            unknown = _unknown_servers(registry, args.server)
            return unknown or (registry.tools(args.server), dict(registry.errors))

    listed = anyio.run(listing)
    if isinstance(listed, CliError):
        raise listed
    tools, server_errors = listed
    for name, message in server_errors.items():
        warn(f"server {name}: {message}")
    if args.json:
        print(json.dumps(_as_json(tools, {**setup.errors, **server_errors}), indent=2))
    else:
        _print_tools(tools)
    return FAILURE if setup.errors or server_errors else 0


def run_call(args: argparse.Namespace) -> int:
    try:
        arguments = json.loads(args.args)
    except json.JSONDecodeError as e:
        raise CliError(f"--args is not valid JSON: {e}") from None
    if not isinstance(arguments, dict):
        raise CliError(f"--args must be a JSON object, got {type(arguments).__name__}: {args.args}")
    if args.timeout is not None and args.timeout <= 0:
        raise CliError("--timeout must be a positive number of seconds")
    setup = load_setup(args)
    report_plugin_errors(setup.errors)

    # On a terminal, progress rewrites one status line; piped, each report is a line of its own.
    live = sys.stderr.isatty()
    shown = False

    async def progress(done: float, total: float | None, message: str | None) -> None:
        nonlocal shown
        line = f"mcp-voice: {progress_text(done, total, message)}"
        if live:
            sys.stderr.write(f"\r\033[K{line}")
            sys.stderr.flush()
            shown = True
        else:
            print(line, file=sys.stderr)

    async def calling() -> ToolResult | CliError:
        async with setup.registry() as registry:
            if registry.get(args.name) is None:
                for name, message in registry.errors.items():
                    warn(f"server {name}: {message}")
                known = ", ".join(t.name for t in registry.tools()) or "none"
                return CliError(f"unknown tool {args.name!r} (available: {known})")
            return await registry.call(args.name, arguments, progress=progress, timeout_s=args.timeout)

    result = anyio.run(calling)
    if shown:
        sys.stderr.write("\r\033[K")  # the status line gives way to the result
    if isinstance(result, CliError):
        raise result
    if args.json:
        print(json.dumps(_result_json(result), indent=2))
    else:
        print(result.output, file=sys.stderr if result.is_error else sys.stdout)
        for image in result.images:
            warn(f"(the result has an image: {image.mime_type}, {len(image.data)} base64 chars; see --json)")
    if not result.is_error:
        return 0
    return USAGE if error_kind(result) in ("bad_arguments", "unknown_tool") else FAILURE


def error_kind(result: ToolResult) -> str | None:
    """The `kind` of a failed call's error object (`bad_arguments`, `tool_error`, ...)."""
    try:
        error = json.loads(result.output).get("error")
    except (ValueError, AttributeError):
        return None
    return error.get("kind") if isinstance(error, dict) else None


def progress_text(done: float, total: float | None, message: str | None) -> str:
    """One progress report for a person: the server's message, with the count only when it adds to it.

    "working... step 2 (2/5, 40%)", "Searched 9000 files, 3 matches so far", "progress 2/5 (40%)".
    """
    if not message:
        return f"progress {done:g}/{total:g} ({min(done / total, 1):.0%})" if total else f"progress {done:g}"
    if total:
        return f"{message} ({done:g}/{total:g}, {min(done / total, 1):.0%})"
    if f"{done:g}" not in message:
        return f"{message} ({done:g})"
    return message  # the message already says how far it got


def _unknown_servers(registry: ToolRegistry, wanted: list[str] | None) -> CliError | None:
    unknown = [name for name in wanted or () if name not in registry.servers]
    if not unknown:
        return None
    known = ", ".join(registry.servers) or "none"
    return CliError(f"no server named {', '.join(map(repr, unknown))} (servers: {known})", USAGE)


def _policy(tool: HostTool) -> dict[str, Any]:
    p = tool.policy
    return {
        "server": tool.server,
        "tool": tool.tool_name,
        "long_running": p.long_running,
        "timeout_s": p.timeout_s,
        "on_barge_in": p.on_barge_in,
        "approval": p.approval,
        "read_only": tool.read_only,
        "destructive": tool.destructive,
    }


def _as_json(tools: list[HostTool], errors: dict[str, str]) -> dict[str, Any]:
    return {
        "tools": [t.function_tool() for t in tools],
        "policy": {t.name: _policy(t) for t in tools},
        "errors": errors,
    }


def _result_json(result: ToolResult) -> dict[str, Any]:
    return {
        "output": result.output,
        "is_error": result.is_error,
        "structured": result.structured,
        "images": [{"mime_type": i.mime_type, "data": i.data} for i in result.images],
    }


def _print_tools(tools: list[HostTool]) -> None:
    if not tools:
        print("no tools")
        return
    for tool in tools:
        flags = []
        if tool.policy.long_running:
            flags.append("long-running")
        if tool.policy.approval:
            flags.append("needs approval")
        if tool.read_only:
            flags.append("read-only")
        if tool.destructive:
            flags.append("destructive")
        flags.append(f"timeout {tool.policy.timeout_s:g}s")
        flags.append(f"barge-in: {tool.policy.on_barge_in}")
        print(f"{tool.name}  [{', '.join(flags)}]")
        for line in inspect.cleandoc(tool.description or "(no description)").splitlines():
            print(f"    {line}")
        for line in _parameter_lines(tool.parameters):
            print(f"    {line}")
        print()


def _parameter_lines(schema: Mapping[str, Any]) -> list[str]:
    properties = schema.get("properties") or {}
    if not isinstance(properties, Mapping) or not properties:
        return ["(no parameters)"]
    required = set(schema.get("required") or ())
    lines = []
    for name, prop in properties.items():
        prop = prop if isinstance(prop, Mapping) else {}
        kind = _type_name(prop)
        text = f"- {name}: {kind}" + ("" if name in required else " (optional)")
        if prop.get("description"):
            text += f" - {prop['description']}"
        lines.append(text)
    return lines


def _type_name(prop: Mapping[str, Any]) -> str:
    """`string`, `integer|null`, ...: the JSON types a property accepts, `any` when unconstrained."""
    kind = prop.get("type")
    if kind is None:
        alternatives = prop.get("anyOf") or prop.get("oneOf") or ()
        names = [_type_name(alt) for alt in alternatives if isinstance(alt, Mapping)]
        return "|".join(dict.fromkeys(n for n in names if n != "null")) or "any"
    return "|".join(kind) if isinstance(kind, list) else str(kind)
