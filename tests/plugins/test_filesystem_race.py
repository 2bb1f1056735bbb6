"""The jail against a live attacker: another process swaps a folder for a symlink to outside while
the model reads, writes, lists and moves through the real MCP server. Nothing may ever escape."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from mcp_voice_filesystem import build_server

pytestmark = pytest.mark.anyio

READS = 3000

SWAPPER = """
import os, sys
root, outside, stop = sys.argv[1], sys.argv[2], sys.argv[3]
d, parked = os.path.join(root, "d"), os.path.join(root, "d_parked")
swaps, extra, dwell = 0, 0, int(sys.argv[4])
print("ready", flush=True)
while not os.path.exists(stop):
    try:
        os.rename(d, parked)      # the real folder steps aside ...
        os.symlink(outside, d)    # ... a link to outside takes its name ...
        os.unlink(d)
        os.rename(parked, d)      # ... and the folder comes back
        swaps += 1
        for _ in range(dwell):    # for a moment, so some reads find the real folder
            pass
    except OSError:               # the server made a new "d" meanwhile: put things back, go on
        if os.path.isdir(parked):
            if os.path.islink(d):
                os.unlink(d)
            elif os.path.isdir(d):
                extra += 1
                os.rename(d, os.path.join(root, "made_meanwhile_%d" % extra))
            os.rename(parked, d)
print(swaps, flush=True)
"""


def text_of(result: Any) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


@asynccontextmanager
async def swapping(root: Path, outside: Path, dwell: int = 20000) -> AsyncIterator[list[int]]:
    """Run the swapper process for the block; yields a list that gets its swap count."""
    stop = root.parent / "stop"
    count: list[int] = []
    process = await anyio.open_process(
        [sys.executable, "-c", SWAPPER, str(root), str(outside), str(stop), str(dwell)]
    )
    assert process.stdout is not None
    try:
        with anyio.fail_after(60):
            assert (await process.stdout.receive()).startswith(b"ready")
        yield count
    finally:
        stop.write_text("")
        with anyio.fail_after(60):
            data = b""
            async for chunk in process.stdout:
                data += chunk
            await process.wait()
        assert process.stderr is not None
        problem = (await process.stderr.receive()).decode() if process.returncode else ""
        assert data.split(), f"the swapper failed: {problem}"
        count.append(int(data.split()[-1]))
        await process.aclose()


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path]:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "d").mkdir(parents=True)
    outside.mkdir()
    (root / "d" / "f.txt").write_text("inside\n")
    (outside / "f.txt").write_text("OUTSIDE SECRET\n")
    return root, outside


async def test_no_read_escapes_while_a_folder_is_swapped_for_a_link(trees: tuple[Path, Path]) -> None:
    root, outside = trees
    results = {"inside": 0, "refused": 0, "escaped": 0}
    refusals: set[str] = set()
    async with Client(build_server(root)) as client, swapping(root, outside) as swaps:
        for _ in range(READS):
            result = await client.call_tool("read_file", {"path": "d/f.txt"})
            text = text_of(result)
            if "OUTSIDE" in text:
                results["escaped"] += 1
            elif result.is_error:
                results["refused"] += 1
                refusals.add(text)
                assert str(root) not in text and str(outside) not in text, text
            else:
                assert text == "inside\n"
                results["inside"] += 1
    assert swaps[0] > 0, "the swapper never ran"
    assert results["escaped"] == 0, results
    assert results["inside"] > 0, (results, refusals)


async def test_no_listing_write_or_move_escapes_while_swapping(trees: tuple[Path, Path]) -> None:
    root, outside = trees
    leaks = []
    async with Client(build_server(root, writable=True)) as client, swapping(root, outside) as swaps:
        for n in range(300):
            listing = text_of(await client.call_tool("list_directory", {"path": "d"}))
            info = text_of(await client.call_tool("file_info", {"path": "d/f.txt"}))
            found = text_of(await client.call_tool("search_files", {"content": "OUTSIDE"}))
            if "f.txt:1" in found or "OUTSIDE" in listing or str(outside) in info:
                leaks.append((listing, info, found))
            await client.call_tool("write_file", {"path": f"d/w{n}.txt", "content": "x"})
            await client.call_tool("make_directory", {"path": f"d/m{n}/deeper"})
            await client.call_tool("move", {"source": "d/f.txt", "destination": f"d/f{n}.txt"})
            await client.call_tool("move", {"source": f"d/f{n}.txt", "destination": "d/f.txt"})
    assert swaps[0] > 0
    assert leaks == []
    assert sorted(p.name for p in outside.iterdir()) == ["f.txt"], "something was written outside"
    assert (outside / "f.txt").read_text() == "OUTSIDE SECRET\n"


async def test_hard_links_are_refused_when_asked(trees: tuple[Path, Path]) -> None:
    root, outside = trees
    os.link(outside / "f.txt", root / "linked.txt")
    async with Client(build_server(root)) as client:
        assert "OUTSIDE SECRET" in text_of(await client.call_tool("read_file", {"path": "linked.txt"}))
    async with Client(build_server(root, refuse_hardlinks=True)) as client:
        result = await client.call_tool("read_file", {"path": "linked.txt"})
        assert result.is_error and "more than one" in text_of(result)
        assert "inside" in text_of(await client.call_tool("read_file", {"path": "d/f.txt"}))


async def test_refusals_never_show_the_absolute_root(trees: tuple[Path, Path]) -> None:
    root, outside = trees
    (root / "out").symlink_to(outside, target_is_directory=True)
    async with Client(build_server(root, writable=True)) as client:
        for tool, args in [
            ("read_file", {"path": "../outside/f.txt"}),
            ("read_file", {"path": "out/f.txt"}),
            ("list_directory", {"path": "/etc"}),
            ("write_file", {"path": "out/new.txt", "content": "x"}),
        ]:
            result = await client.call_tool(tool, args)
            text = text_of(result)
            assert result.is_error and "outside the allowed folder" in text, text
            assert str(root) not in text and str(root.parent) not in text, text
