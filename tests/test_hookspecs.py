"""Guards (in the style of datasette's): every hookspec is documented and has a test.

A hook added to `mcp_voice/hookspecs.py` without a row in docs/plugins.md (with the same
arguments) or without a `test_hook_<name>` test fails here, so the plugin API cannot grow
undocumented or untested.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from mcp_voice import hookspecs

ROOT = Path(__file__).resolve().parents[1]
DOCS = (ROOT / "docs" / "plugins.md").read_text()
SPEC_MARK = f"{hookspecs.PROJECT}_spec"
"""The attribute pluggy's HookspecMarker sets on a hookspec function."""


def hook_names() -> list[str]:
    return sorted(
        name for name, value in vars(hookspecs).items() if callable(value) and hasattr(value, SPEC_MARK)
    )


def test_the_hooks_are_found() -> None:
    # If the marker attribute changed, the guards below would pass vacuously.
    assert hook_names() == [
        "incoming_call",
        "register_servers",
        "session_ended",
        "session_started",
        "tool_event",
        "tool_policy",
    ]


@pytest.mark.parametrize("hook", hook_names())
def test_hook_is_documented_with_its_arguments(hook: str) -> None:
    arguments = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
    assert f"| `{hook}({arguments})` |" in DOCS, f"docs/plugins.md has no table row for {hook}({arguments})"
    assert f"- **{hook}**:" in DOCS, f"docs/plugins.md does not explain {hook}"


@pytest.mark.parametrize("hook", hook_names())
def test_hook_has_a_test(hook: str) -> None:
    pattern = re.compile(rf"^(async )?def test_hook_{hook}\(", re.MULTILINE)
    files = [path for path in (ROOT / "tests").rglob("test_*.py") if pattern.search(path.read_text())]
    assert files, f"no test named test_hook_{hook} under tests/"
