"""A catastrophic regex cannot stall the process: content search runs on RE2 (linear time).

With Python's backtracking `re`, `(a+)+$` against one line of 35 `a` and a `!` takes hours while
holding the GIL: every other session (and `/healthz`) would wait. Here the search finishes and
another session's round trips go on meanwhile.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from mcp import Client

from mcp_voice_filesystem import build_server

pytestmark = pytest.mark.anyio

EVIL = "(a+)+$"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "evil.txt").write_text("a" * 35 + "!\n" + "plain line\n")
    (tmp_path / "notes.txt").write_text("nothing to see\n")
    return tmp_path


async def test_a_pathological_pattern_does_not_stall_other_sessions(root: Path) -> None:
    server = build_server(root)
    round_trips = 0
    async with Client(server) as searcher, Client(build_server(root)) as other:
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:

                async def browse() -> None:
                    nonlocal round_trips
                    for _ in range(5):
                        result = await other.call_tool("list_directory", {"path": "."})
                        assert not result.is_error
                        round_trips += 1

                tg.start_soon(browse)
                result = await searcher.call_tool(
                    "search_files", {"pattern": "*", "content": EVIL, "regex": True}
                )
    text = "\n".join(c.text for c in result.content if c.type == "text")
    assert not result.is_error, text
    assert "evil.txt" not in text  # `(a+)+$` needs the line to end in `a`: no match, found quickly
    assert round_trips == 5


async def test_regex_search_still_finds_and_ignores_case(root: Path) -> None:
    async with Client(build_server(root)) as client:
        result = await client.call_tool("search_files", {"content": "PLAIN\\s+l[i]ne$", "regex": True})
    text = "\n".join(c.text for c in result.content if c.type == "text")
    assert "evil.txt:2: plain line" in text, text


async def test_a_pattern_re2_cannot_run_gets_a_clear_error(root: Path) -> None:
    async with Client(build_server(root)) as client:
        result = await client.call_tool("search_files", {"content": "(a)\\1", "regex": True})
    text = "\n".join(c.text for c in result.content if c.type == "text")
    assert result.is_error and "not a valid regular expression" in text and "backreferences" in text, text
