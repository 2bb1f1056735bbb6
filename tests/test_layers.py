"""The house's shape, read from the source: one public surface, no circles, protocol at the floor.

Imports under `TYPE_CHECKING` and inside functions count too: a circle hidden behind them is still
a circle a reader has to walk.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mcp_voice

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mcp_voice"
PLUGINS = ROOT / "plugins"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _imports(path: Path) -> set[str]:
    """Every `mcp_voice...` module this file names in an import, relative imports resolved."""
    tree = ast.parse(path.read_text(), str(path))
    here = _module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *([base] if base else [])])
            found.add(base)
            # `from mcp_voice.serve import app` names the module mcp_voice.serve.app.
            found.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES)
    return {name for name in found if name == "mcp_voice" or name.startswith("mcp_voice.")}


def _graph() -> dict[str, set[str]]:
    return {name: {d for d in _imports(path) if d in MODULES and d != name} for name, path in _items()}


def _items() -> list[tuple[str, Path]]:
    return sorted(MODULES.items())


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), ignoring the edges
    between a package's `__init__` and its own submodules (a package re-exporting its parts)."""

    def own(parent: str, child: str) -> bool:
        return child.startswith(parent + ".")

    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in graph[node]:
            if own(node, dep) or own(dep, node):
                continue
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


MODULES = _modules()


def test_plugins_import_only_the_public_surface() -> None:
    offenders = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in PLUGINS.rglob("*.py")
        for name in _imports(path)
        if name != "mcp_voice"
    }
    assert not offenders, sorted(offenders)


def test_everything_the_plugins_use_is_exported() -> None:
    for name in mcp_voice.__all__:
        assert getattr(mcp_voice, name) is not None, name


def test_no_modules_import_each_other_in_a_circle() -> None:
    assert _cycles(_graph()) == []


def test_protocol_imports_nothing_above_it() -> None:
    """protocol is the floor: the simulator, the session host and serve use it, never the reverse
    (choosing an upstream, the simulator included, lives above it in `mcp_voice.upstreams`)."""
    above = ("mcp_voice.sim", "mcp_voice.session", "mcp_voice.serve", "mcp_voice.upstreams")
    offenders = sorted(
        f"{name} imports {dep}"
        for name, deps in _graph().items()
        if name.startswith("mcp_voice.protocol")
        for dep in deps
        if dep.startswith(above)
    )
    assert offenders == []
