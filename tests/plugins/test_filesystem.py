"""The filesystem plugin through real in-process MCP sessions against a real directory tree."""

from __future__ import annotations

import importlib.metadata
import os
import stat
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pluggy
import pytest
from mcp import Client
from mcp.server import MCPServer

import mcp_voice_filesystem
from mcp_voice import hookspecs
from mcp_voice.config import ConfigError, parse_config
from mcp_voice.tools.spec import META_LONG_RUNNING, ServerSpec
from mcp_voice_filesystem import RootError, build_server, listing, search

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # 1032 bytes
NOTES = "".join(f"line {n}\n" for n in range(1, 11))  # 10 lines, 71 bytes


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """root/ with text, binary, a FIFO and links in and out; outside/ next to it."""
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    (root / "docs" / "deep").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.txt").write_text("top secret\n")
    (root / "notes.txt").write_text(NOTES)
    (root / "docs" / "todo.txt").write_text("buy milk\ncall Alice about the Budget\n")
    (root / "docs" / "deep" / "plan.md").write_text("# Plan\nbudget: 100\n")
    (root / "photo.png").write_bytes(PNG)
    (root / "empty.txt").write_bytes(b"")
    (root / "secret_link").symlink_to(outside / "secret.txt")
    (root / "outside_dir").symlink_to(outside, target_is_directory=True)
    (root / "notes_link").symlink_to(root / "notes.txt")
    os.mkfifo(root / "pipe")
    return root.resolve()


@asynccontextmanager
async def connect(root: Path | str, **options: Any) -> AsyncIterator[Client]:
    async with Client(build_server(root, **options)) as client:
        yield client


async def ok(client: Client, tool: str, **args: Any) -> str:
    result = await client.call_tool(tool, args)
    text = "\n".join(c.text for c in result.content if c.type == "text")
    assert not result.is_error, text
    return text


async def refused(client: Client, tool: str, **args: Any) -> str:
    """The refusal text, without the SDK's "Error executing tool X: " prefix (checked here)."""
    result = await client.call_tool(tool, args)
    text = "\n".join(c.text for c in result.content if c.type == "text")
    assert result.is_error, text
    prefix = f"Error executing tool {tool}: "
    assert text.startswith(prefix), text
    return text.removeprefix(prefix)


# --- reading -------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_list_directory_sorts_directories_first_and_describes_entries(tree: Path) -> None:
    async with connect(tree) as client:
        text = await ok(client, "list_directory")
    assert text.splitlines() == [
        "Directory '.' has 8 entries:",
        "docs/",
        "empty.txt (0 bytes)",
        "notes.txt (71 bytes)",
        "notes_link (link to 'notes.txt', 71 bytes)",
        "outside_dir (link leading outside the root; not accessible)",
        "photo.png (1.0 KB)",
        "pipe (named pipe; not readable)",
        "secret_link (link leading outside the root; not accessible)",
    ]


@pytest.mark.anyio
async def test_list_directory_of_a_subdirectory_and_of_a_file(tree: Path) -> None:
    async with connect(tree) as client:
        assert await ok(client, "list_directory", path="docs") == (
            "Directory 'docs' has 2 entries:\ndeep/\ntodo.txt (37 bytes)"
        )
        assert await refused(client, "list_directory", path="notes.txt") == (
            "'notes.txt' is a file, not a directory"
        )
        assert await refused(client, "list_directory", path="nope") == "'nope' does not exist"


@pytest.mark.anyio
async def test_huge_listing_is_capped_with_a_note(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listing, "LIST_LIMIT", 3)
    async with connect(tree) as client:
        lines = (await ok(client, "list_directory")).splitlines()
    assert lines[1:4] == ["docs/", "empty.txt (0 bytes)", "notes.txt (71 bytes)"]
    assert lines[4:] == ["[Showing the first 3 of 8 entries; use search_files to find specific ones.]"]


@pytest.mark.anyio
async def test_read_file_whole_and_empty(tree: Path) -> None:
    async with connect(tree) as client:
        assert await ok(client, "read_file", path="notes.txt") == NOTES
        assert await ok(client, "read_file", path="empty.txt") == "(empty file)"
        # a link that stays inside the root is followed
        assert await ok(client, "read_file", path="notes_link") == NOTES


@pytest.mark.anyio
async def test_read_file_line_ranges_are_one_based_and_inclusive(tree: Path) -> None:
    async with connect(tree) as client:
        assert await ok(client, "read_file", path="notes.txt", start_line=2, end_line=4) == (
            "line 2\nline 3\nline 4\n\n[Lines 2-4 of 10.]"
        )
        assert await ok(client, "read_file", path="notes.txt", start_line=9) == (
            "line 9\nline 10\n\n[Lines 9-10 of 10.]"
        )
        assert await ok(client, "read_file", path="notes.txt", end_line=1) == "line 1\n\n[Line 1 of 10.]"
        assert await ok(client, "read_file", path="notes.txt", start_line=10, end_line=99) == (
            "line 10\n\n[Line 10 of 10.]"
        )
        assert await refused(client, "read_file", path="notes.txt", start_line=11) == (
            "start_line 11 is past the end of the file, which has 10 lines"
        )
        assert await refused(client, "read_file", path="notes.txt", start_line=5, end_line=4) == (
            "end_line 4 is before start_line 5"
        )
        assert await refused(client, "read_file", path="notes.txt", start_line=0) == (
            "start_line must be 1 or more, not 0"
        )


@pytest.mark.anyio
async def test_read_file_size_cap_cuts_at_a_line_and_says_where_to_go_on(tree: Path) -> None:
    async with connect(tree, max_read_bytes=30) as client:
        first = await ok(client, "read_file", path="notes.txt")
        assert first == (
            "line 1\nline 2\nline 3\nline 4\n\n"
            "[Truncated: showing lines 1-4, the first 28 bytes of 71 bytes. Read on with start_line=5.]"
        )
        second = await ok(client, "read_file", path="notes.txt", start_line=5)
        assert second == (
            "line 5\nline 6\nline 7\nline 8\n\n"
            "[Truncated at 30 bytes: showing lines 5-8. Read on with start_line=9.]"
        )
        assert await ok(client, "read_file", path="notes.txt", start_line=9) == (
            "line 9\nline 10\n\n[Lines 9-10 of 10.]"
        )


@pytest.mark.anyio
async def test_read_file_cuts_a_line_longer_than_the_cap(tree: Path) -> None:
    (tree / "wide.txt").write_text("x" * 100 + "\nshort\n")
    async with connect(tree, max_read_bytes=30) as client:
        assert await ok(client, "read_file", path="wide.txt") == (
            "x" * 30 + "\n\n[Truncated: showing the first 30 bytes of 107 bytes; the first line is longer.]"
        )
        assert await ok(client, "read_file", path="wide.txt", end_line=1) == (
            "x" * 30 + "\n\n[Line 1 of 2.] [Line 1 is longer than 30 bytes and was cut.]"
        )
        assert await ok(client, "read_file", path="wide.txt", start_line=2) == "short\n\n[Line 2 of 2.]"


@pytest.mark.anyio
async def test_read_file_describes_binary_files_instead_of_dumping_them(tree: Path) -> None:
    (tree / "blob.dat").write_bytes(b"\x00\x01\x02" * 100)
    async with connect(tree) as client:
        assert await ok(client, "read_file", path="photo.png") == (
            "'photo.png' is a binary file (PNG image, 1.0 KB); its contents are not shown."
        )
        assert await ok(client, "read_file", path="blob.dat") == (
            "'blob.dat' is a binary file (unknown binary data, 300 bytes); its contents are not shown."
        )
        assert await refused(client, "read_file", path="docs") == "'docs' is a directory, not a file"


@pytest.mark.anyio
async def test_file_info_for_text_binary_directory_and_link(tree: Path) -> None:
    os.chmod(tree / "notes.txt", 0o640)
    when = time.mktime((2024, 5, 1, 12, 30, 0, 0, 0, -1))
    os.utime(tree / "notes.txt", (when, when))
    async with connect(tree) as client:
        info = (await ok(client, "file_info", path="notes.txt")).splitlines()
        assert info[:4] == ["path: notes.txt", "type: file", "size: 71 bytes", "content: text, 10 lines"]
        assert info[4].startswith("modified: 2024-05-01T12:30:00")
        assert info[5] == "permissions: rw-r----- (0640)"

        png = (await ok(client, "file_info", path="photo.png")).splitlines()
        assert png[2:4] == ["size: 1.0 KB (1032 bytes)", "content: binary (PNG image)"]

        docs = (await ok(client, "file_info", path="docs")).splitlines()
        assert docs[:3] == ["path: docs", "type: directory", "entries: 2"]

        link = (await ok(client, "file_info", path="notes_link")).splitlines()
        assert link[:2] == ["path: notes.txt", "link: symbolic link to 'notes.txt'"]


# --- the jail ------------------------------------------------------------------------------------


OUTSIDE = "is outside the allowed folder"
LINKED_OUT = "leads outside the allowed folder through a symbolic link"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("tool", "path", "why"),
    [
        ("read_file", "../outside/secret.txt", OUTSIDE),
        ("read_file", "docs/../../outside/secret.txt", OUTSIDE),
        ("read_file", "{outside}/secret.txt", OUTSIDE),
        ("read_file", "/proc/self/status", OUTSIDE),
        ("list_directory", "..", OUTSIDE),
        ("read_file", "secret_link", LINKED_OUT),
        ("read_file", "outside_dir/secret.txt", LINKED_OUT),
        ("file_info", "secret_link", LINKED_OUT),
        ("list_directory", "outside_dir", LINKED_OUT),
        ("search_files", "outside_dir", LINKED_OUT),
        ("read_file", "pipe", "is a named pipe, not a regular file"),
        ("file_info", "pipe", "is a named pipe, not a regular file"),
    ],
)
async def test_jail_refuses_with_the_reason(tree: Path, tool: str, path: str, why: str) -> None:
    path = path.format(outside=tree.parent / "outside")
    async with connect(tree) as client:
        assert await refused(client, tool, path=path) == f"'{path}' " + why.format(root=tree)


@pytest.mark.anyio
async def test_absolute_paths_inside_the_root_are_fine(tree: Path) -> None:
    async with connect(tree) as client:
        assert await ok(client, "read_file", path=str(tree / "notes.txt")) == NOTES
        assert (await ok(client, "list_directory", path=str(tree))).startswith("Directory '.' has 8 entries:")


@pytest.mark.anyio
@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs Linux /proc")
async def test_proc_files_are_refused_even_inside_the_root() -> None:
    async with connect("/") as client:
        assert await refused(client, "read_file", path="/proc/self/status") == (
            "'/proc/self/status' is a proc system file under /proc, not a regular file"
        )
        assert await refused(client, "file_info", path="proc/self/status") == (
            "'proc/self/status' is a proc system file under /proc, not a regular file"
        )


@pytest.mark.anyio
async def test_a_socket_is_refused(tree: Path) -> None:
    import socket

    path = tree / "s.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        async with connect(tree) as client:
            assert (
                await refused(client, "read_file", path="s.sock")
                == "'s.sock' is a socket, not a regular file"
            )


def test_build_server_refuses_a_missing_root_or_a_file(tmp_path: Path) -> None:
    with pytest.raises(RootError, match=f"^filesystem root {tmp_path / 'nope'} does not exist$"):
        build_server(tmp_path / "nope")
    (tmp_path / "f").write_text("x")
    with pytest.raises(RootError, match=f"^filesystem root {tmp_path / 'f'} is not a directory$"):
        build_server(tmp_path / "f")


# --- search --------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_search_by_name_content_and_regex(tree: Path) -> None:
    async with connect(tree) as client:
        # a directory's own files first, then its subdirectories, depth-first
        assert await ok(client, "search_files", pattern="*.TXT") == (
            "3 matches for files named '*.TXT' under '.' (searched 6 files):\n"
            "empty.txt\nnotes.txt\ndocs/todo.txt"
        )
        assert await ok(client, "search_files", content="budget") == (
            "2 matches for files containing 'budget' under '.' (searched 6 files):\n"
            "docs/todo.txt:2: call Alice about the Budget\n"
            "docs/deep/plan.md:2: budget: 100"
        )
        assert await ok(client, "search_files", content=r"line \d0", regex=True) == (
            "2 matches for files containing 'line \\d0' under '.' (searched 6 files):\n"
            "notes.txt:10: line 10\nnotes_link:10: line 10"
        )
        assert await ok(client, "search_files", pattern="deep") == (
            "1 match for files named 'deep' under '.' (searched 6 files):\ndocs/deep/"
        )
        assert await ok(client, "search_files", pattern="*.md", path="docs") == (
            "1 match for files named '*.md' under 'docs' (searched 2 files):\ndocs/deep/plan.md"
        )
        assert await refused(client, "search_files", content="(", regex=True) == (
            "'(' is not a valid regular expression: missing ): ( "
            "(RE2 syntax: no backreferences or lookaround)"
        )


@pytest.mark.anyio
async def test_search_never_leaves_the_root_nor_opens_special_files(tree: Path) -> None:
    async with connect(tree) as client:
        # secret_link and outside_dir lead to "top secret"; the FIFO would block a naive reader.
        assert await ok(client, "search_files", content="secret") == (
            "No files containing 'secret' under '.' (searched 6 files)."
        )


@pytest.mark.anyio
async def test_search_stops_at_max_results(tree: Path) -> None:
    async with connect(tree) as client:
        text = await ok(client, "search_files", content="line", max_results=3)
    assert text.splitlines() == [
        "3 matches for files containing 'line' under '.' (searched 2 files):",
        "notes.txt:1: line 1",
        "notes.txt:2: line 2",
        "notes.txt:3: line 3",
        "[Stopped at 3 results; narrow the search to see more.]",
    ]


def make_big_tree(root: Path, files: int = 3000) -> None:
    for d in range(files // 100):
        folder = root / "big" / f"d{d:02}"
        folder.mkdir(parents=True)
        for f in range(100):
            (folder / f"f{f:03}.txt").write_text("nothing here\n")


@pytest.mark.anyio
async def test_search_reports_progress_on_a_big_tree(tree: Path) -> None:
    make_big_tree(tree)
    updates: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append((progress, total, message))

    async with connect(tree) as client:
        result = await client.call_tool("search_files", {"content": "budget"}, progress_callback=on_progress)
    assert not result.is_error
    assert "(searched 3006 files)" in result.content[0].text
    assert len(updates) >= 2
    done = [p for p, _, _ in updates]
    assert done == sorted(done) and done[-1] <= 3006
    assert all(total is None for _, total, _ in updates)
    assert updates[0][2] is not None and updates[0][2].startswith(f"Searched {int(done[0])} files in ")


@pytest.mark.anyio
async def test_search_is_cancellable_and_stops_scanning(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_big_tree(tree, files=500)
    checked: list[str] = []
    original = search.Search._check_file

    def slow_check(self: search.Search, pending: Any) -> None:
        time.sleep(0.005)  # 2.5 s for the whole tree: a search a user would give up on
        checked.append(pending.rel)
        original(self, pending)

    monkeypatch.setattr(search.Search, "_check_file", slow_check)
    # One step may now take 1000 files (5 s): cancellation must not wait for a step to finish.
    monkeypatch.setattr(search.Search.step, "__defaults__", (60.0, 1000))
    async with connect(tree) as client:
        started = time.monotonic()
        with anyio.move_on_after(0.3):
            await client.call_tool("search_files", {"content": "budget"})
            pytest.fail("the search finished before it was cancelled")
        assert time.monotonic() - started < 1.0
        at_cancel = len(checked)
        await anyio.sleep(0.3)
        # the abandoned worker thread sees `cancelled` at its next file instead of finishing its step
        assert len(checked) - at_cancel <= 3, (at_cancel, len(checked))
        # the session is still usable
        assert await ok(client, "read_file", path="notes.txt", end_line=1) == "line 1\n\n[Line 1 of 10.]"


# --- tool list -----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_read_only_server_lists_read_tools_with_annotations_and_meta(tree: Path) -> None:
    async with connect(tree) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert sorted(tools) == ["file_info", "list_directory", "read_file", "search_files"]
    for tool in tools.values():
        assert tool.annotations is not None and tool.annotations.read_only_hint is True
        assert tool.annotations.destructive_hint is False
    assert tools["search_files"].meta == {META_LONG_RUNNING: True}
    assert not (tools["read_file"].meta or {}).get(META_LONG_RUNNING)
    async with connect(tree) as client:
        result = await client.call_tool("write_file", {"path": "x.txt", "content": "x"})
    assert result.is_error and result.content[0].text == "Unknown tool: write_file"
    assert not (tree / "x.txt").exists()


@pytest.mark.anyio
async def test_writable_server_adds_write_tools_with_annotations(tree: Path) -> None:
    async with connect(tree, writable=True) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert sorted(tools) == [
        "file_info", "list_directory", "make_directory", "move", "read_file", "search_files", "write_file",
    ]  # fmt: skip
    hints = {
        name: (tools[name].annotations.read_only_hint, tools[name].annotations.destructive_hint)
        for name in ("write_file", "make_directory", "move")
        if tools[name].annotations is not None
    }
    assert hints == {"write_file": (False, True), "make_directory": (False, False), "move": (False, True)}


# --- writing -------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_write_file_creates_refuses_to_clobber_and_overwrites(tree: Path) -> None:
    async with connect(tree, writable=True) as client:
        assert await ok(client, "write_file", path="docs/new.txt", content="héllo\n") == (
            "Created 'docs/new.txt' (7 bytes)."
        )
        assert (tree / "docs" / "new.txt").read_text() == "héllo\n"
        assert stat.S_IMODE((tree / "docs" / "new.txt").stat().st_mode) == 0o666 & ~_umask()
        assert await refused(client, "write_file", path="docs/new.txt", content="other") == (
            "'docs/new.txt' already exists; pass overwrite=true to replace it"
        )
        assert (tree / "docs" / "new.txt").read_text() == "héllo\n"
        os.chmod(tree / "docs" / "new.txt", 0o600)
        assert await ok(client, "write_file", path="docs/new.txt", content="other", overwrite=True) == (
            "Replaced 'docs/new.txt' (5 bytes)."
        )
        assert (tree / "docs" / "new.txt").read_text() == "other"
        assert stat.S_IMODE((tree / "docs" / "new.txt").stat().st_mode) == 0o600
        assert await refused(client, "write_file", path="nowhere/x.txt", content="x") == (
            "cannot write 'nowhere/x.txt': directory 'nowhere' does not exist; "
            "create it with make_directory first"
        )
        assert await refused(client, "write_file", path="docs", content="x", overwrite=True) == (
            "'docs' is a directory, not a file"
        )
    # no temporary files left behind
    assert sorted(p.name for p in (tree / "docs").iterdir()) == ["deep", "new.txt", "todo.txt"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.anyio
async def test_write_tools_are_jailed_too(tree: Path) -> None:
    outside = tree.parent / "outside"
    async with connect(tree, writable=True) as client:
        assert await refused(client, "write_file", path="../evil.txt", content="x") == (
            "'../evil.txt' is outside the allowed folder"
        )
        assert await refused(client, "write_file", path="outside_dir/evil.txt", content="x") == (
            "'outside_dir/evil.txt' leads outside the allowed folder through a symbolic link"
        )
        assert await refused(client, "write_file", path="secret_link", content="x", overwrite=True) == (
            "'secret_link' leads outside the allowed folder through a symbolic link"
        )
        assert await refused(client, "make_directory", path="outside_dir/new") == (
            "'outside_dir/new' leads outside the allowed folder through a symbolic link"
        )
        assert await refused(client, "move", source="notes.txt", destination="outside_dir") == (
            "'outside_dir' leads outside the allowed folder through a symbolic link"
        )
        assert await refused(client, "move", source="notes.txt", destination="../notes.txt") == (
            "'../notes.txt' is outside the allowed folder"
        )
        assert await refused(client, "move", source=".", destination="elsewhere") == (
            "cannot move the filesystem root itself"
        )
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "top secret\n"


@pytest.mark.anyio
async def test_make_directory(tree: Path) -> None:
    async with connect(tree, writable=True) as client:
        assert await ok(client, "make_directory", path="a/b/c") == "Created directory 'a/b/c'."
        assert (tree / "a" / "b" / "c").is_dir()
        assert await ok(client, "make_directory", path="a/b") == "Directory 'a/b' already exists."
        assert await refused(client, "make_directory", path="notes.txt") == (
            "'notes.txt' already exists and is a file, not a directory"
        )


@pytest.mark.anyio
async def test_move_renames_moves_into_directories_and_never_replaces(tree: Path) -> None:
    async with connect(tree, writable=True) as client:
        assert await ok(client, "move", source="notes.txt", destination="renamed.txt") == (
            "Moved 'notes.txt' to 'renamed.txt'."
        )
        assert (tree / "renamed.txt").read_text() == NOTES and not (tree / "notes.txt").exists()
        assert await ok(client, "move", source="renamed.txt", destination="docs") == (
            "Moved 'renamed.txt' to 'docs/renamed.txt'."
        )
        assert await refused(client, "move", source="empty.txt", destination="docs/todo.txt") == (
            "'docs/todo.txt' already exists; move or rename it first"
        )
        assert await refused(client, "move", source="docs", destination="docs/deep") == (
            "cannot move directory 'docs' into itself"
        )
        assert await refused(client, "move", source="missing.txt", destination="x.txt") == (
            "'missing.txt' does not exist"
        )
        # a link is moved itself, not what it points to
        assert await ok(client, "move", source="notes_link", destination="docs/link") == (
            "Moved 'notes_link' to 'docs/link'."
        )
        assert (tree / "docs" / "link").is_symlink()


# --- the plugin hook -----------------------------------------------------------------------------


def test_entry_point_is_this_module() -> None:
    (entry,) = [e for e in importlib.metadata.entry_points(group="mcp_voice") if e.name == "filesystem"]
    assert entry.load() is mcp_voice_filesystem


@pytest.mark.anyio
async def test_register_servers_hook_builds_a_jailed_server_from_config(tree: Path) -> None:
    config = parse_config(
        {"plugins": {"filesystem": {"root": "root", "writable": True, "max_read_bytes": 10, "timeout_s": 5}}},
        source=tree.parent / "mcp-voice.toml",
    )
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(mcp_voice_filesystem, name="filesystem")
    specs: list[ServerSpec] = []
    pm.hook.register_servers(register=specs.append, config=config)

    (spec,) = specs
    assert (spec.name, spec.plugin) == ("filesystem", "filesystem")
    assert isinstance(spec.target, MCPServer)
    async with Client(spec.target) as client:
        assert "write_file" in {t.name for t in (await client.list_tools()).tools}
        text = await ok(client, "read_file", path="notes.txt")
        assert text.startswith("line 1\n\n[Truncated: showing lines 1-1")


def test_register_servers_errors_name_the_key(tmp_path: Path) -> None:
    source = tmp_path / "mcp-voice.toml"

    def register_with(table: dict[str, Any]) -> None:
        config = parse_config({"plugins": {"filesystem": table}}, source=source)
        mcp_voice_filesystem.register_servers(register=lambda spec: None, config=config)

    with pytest.raises(ConfigError) as missing:
        register_with({"root": "no/such/dir"})
    assert str(missing.value) == (
        f"{source}: plugins.filesystem.root: 'no/such/dir': "
        f"filesystem root {tmp_path / 'no/such/dir'} does not exist"
    )
    with pytest.raises(
        ConfigError, match=r"plugins\.filesystem\.writeable: unknown key \(did you mean 'writable'\?\)"
    ):
        register_with({"writeable": True})
    with pytest.raises(ConfigError, match=r"plugins\.filesystem\.max_read_bytes: "):
        register_with({"max_read_bytes": 0})


def test_a_bad_root_names_the_file_like_every_other_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    source = tmp_path / "mcp-voice.toml"
    messages = []
    for table in ({"root": "missing"}, {"writeable": True}, {"exclude": ["a/b"]}):
        config = parse_config({"plugins": {"filesystem": table}}, source=source)
        with pytest.raises(ConfigError) as raised:
            mcp_voice_filesystem.register_servers(register=lambda spec: None, config=config)
        messages.append(str(raised.value))
    assert messages[0] == (
        "mcp-voice.toml: plugins.filesystem.root: 'missing': "
        f"filesystem root {tmp_path.resolve() / 'missing'} does not exist"
    )
    assert messages[1].startswith("mcp-voice.toml: plugins.filesystem.writeable: unknown key")
    assert messages[2] == (
        "mcp-voice.toml: plugins.filesystem.exclude: "
        "'a/b': exclude patterns match single names, e.g. 'build' or '*.log'"
    )


@pytest.mark.anyio
async def test_include_hidden_and_exclude_come_from_the_config(project: Path) -> None:
    from mcp_voice.api import open_tools

    table = {"root": "project", "include_hidden": True, "exclude": ["src"]}
    config = parse_config({"plugins": {"filesystem": table}}, source=project.parent / "mcp-voice.toml")
    async with open_tools(config, plugins=["filesystem"], env={}) as tools:
        env = await tools.call("filesystem__read_file", {"path": ".env"})
        code = await tools.call("filesystem__read_file", {"path": "src/main.py"})
        pycache = await tools.call("filesystem__list_directory", {"path": "node_modules"})
    assert (env.is_error, env.output) == (False, "API_KEY=hunter2\n")
    assert code.is_error and "'src' matches 'src' in the exclude setting" in code.output
    assert not pycache.is_error  # a custom list replaces the defaults


@pytest.mark.anyio
async def test_through_open_tools_the_framework_sees_policies_and_refusals(tree: Path) -> None:
    from mcp_voice.api import open_tools

    config = parse_config(
        {"plugins": {"filesystem": {"root": "root", "writable": True, "timeout_s": 7}}},
        source=tree.parent / "mcp-voice.toml",
    )
    async with open_tools(config, plugins=["filesystem"], env={}) as tools:
        assert tools.errors == {}
        policies = {t.tool_name: t.policy for t in tools.tools()}
        assert {name for name, p in policies.items() if p.long_running} == {"search_files"}
        assert {name for name, p in policies.items() if p.approval} == {"write_file", "move"}
        assert {p.timeout_s for p in policies.values()} == {7.0}
        read = await tools.call("filesystem__read_file", {"path": "notes.txt", "end_line": 1})
        assert (read.is_error, read.output) == (False, "line 1\n\n[Line 1 of 10.]")
        escape = await tools.call("filesystem__read_file", {"path": "../outside/secret.txt"})
        assert escape.is_error
        assert "'../outside/secret.txt' is outside the allowed folder" in escape.output
        assert "top secret" not in escape.output


# --- hidden and excluded entries ---------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A repository-like tree: code next to .git, .env, .venv, __pycache__ and node_modules."""
    root = tmp_path / "project"
    for folder in (".git", ".venv/lib", "src/__pycache__", "node_modules/pkg", "app.egg-info"):
        (root / folder).mkdir(parents=True)
    (root / ".git" / "config").write_text("[remote]\nurl = secret\n")
    (root / ".env").write_text("API_KEY=hunter2\n")
    (root / ".venv" / "lib" / "site.py").write_text("print('venv')\n")
    (root / "src" / "main.py").write_text("print('main')\n")
    (root / "src" / "__pycache__" / "main.py").write_text("cached\n")
    (root / "node_modules" / "pkg" / "index.py").write_text("dep\n")
    (root / "app.egg-info" / "PKG-INFO").write_text("meta\n")
    (root / "readme.py").write_text("# readme\n")
    (root / "env_link").symlink_to(root / ".env")
    return root.resolve()


HIDDEN_REFUSAL = (
    "and hidden files are not shared; set include_hidden = true in [plugins.filesystem] to share hidden files"
)


@pytest.mark.anyio
async def test_hidden_and_excluded_entries_are_not_listed_or_searched(project: Path) -> None:
    async with connect(project) as client:
        listed = await ok(client, "list_directory")
        found = await ok(client, "search_files", pattern="*.py")
        by_content = await ok(client, "search_files", content="print")
    assert listed.splitlines() == [
        "Directory '.' has 3 entries:",
        "src/",
        "env_link (link to a hidden or excluded path; not accessible)",
        "readme.py (9 bytes)",
        "[Not shown: 3 hidden entries (set include_hidden = true in [plugins.filesystem] to share "
        "hidden files); 2 excluded entries (the exclude setting).]",
    ]
    assert found.splitlines()[:3] == [
        "2 matches for files named '*.py' under '.' (searched 2 files):",
        "readme.py",
        "src/main.py",
    ]
    assert found.splitlines()[3:] == [
        "[Skipped 3 files or directories that are hidden; set include_hidden = true in "
        "[plugins.filesystem] to share hidden files.]",
        "[Skipped 3 files or directories matching the exclude setting.]",
    ]
    assert by_content.splitlines()[:2] == [
        "1 match for files containing 'print' under '.' (searched 2 files):",
        "src/main.py:1: print('main')",
    ]


@pytest.mark.anyio
async def test_hidden_paths_are_refused_with_how_to_allow_them(project: Path) -> None:
    async with connect(project, writable=True) as client:
        assert await refused(client, "read_file", path=".git/config") == (
            f"'.git/config' is hidden ('.git' starts with '.'), {HIDDEN_REFUSAL}"
        )
        assert await refused(client, "read_file", path="src/../.env") == (
            f"'src/../.env' is hidden ('.env' starts with '.'), {HIDDEN_REFUSAL}"
        )
        # A link with a plain name does not open the way in.
        assert await refused(client, "read_file", path="env_link") == (
            f"'env_link' is hidden ('.env' starts with '.'), {HIDDEN_REFUSAL}"
        )
        assert "is hidden" in await refused(client, "file_info", path=".env")
        assert "is hidden" in await refused(client, "list_directory", path=".venv")
        assert "is hidden" in await refused(client, "search_files", path=".git")
        assert "is hidden" in await refused(client, "write_file", path=".env", content="x", overwrite=True)
        assert "is hidden" in await refused(client, "write_file", path=".bashrc", content="x")
        assert "is hidden" in await refused(client, "make_directory", path=".ssh")
        assert "is hidden" in await refused(client, "move", source=".env", destination="env.txt")
        assert "is hidden" in await refused(client, "move", source="readme.py", destination=".readme.py")
    assert (project / ".env").read_text() == "API_KEY=hunter2\n"
    assert not (project / ".bashrc").exists() and not (project / ".ssh").exists()
    assert (project / "readme.py").exists()


@pytest.mark.anyio
async def test_excluded_paths_are_refused_naming_the_pattern(project: Path) -> None:
    async with connect(project, writable=True) as client:
        assert await refused(client, "read_file", path="src/__pycache__/main.py") == (
            "'src/__pycache__/main.py' is not shared: '__pycache__' matches '__pycache__' "
            "in the exclude setting of [plugins.filesystem]"
        )
        assert "'app.egg-info' matches '*.egg-info'" in await refused(
            client, "file_info", path="app.egg-info/PKG-INFO"
        )
        assert "matches 'node_modules'" in await refused(client, "list_directory", path="node_modules")
        assert "matches 'venv'" in await refused(client, "make_directory", path="venv")


@pytest.mark.anyio
async def test_include_hidden_and_a_custom_exclude_share_what_they_say(project: Path) -> None:
    async with connect(project, include_hidden=True, exclude=["*.md", "src"]) as client:
        assert await ok(client, "read_file", path=".env") == "API_KEY=hunter2\n"
        found = await ok(client, "search_files", pattern="*.py")
        assert "matches 'src'" in await refused(client, "read_file", path="src/main.py")
    # .git stays out of searches (version-control internals), hidden or not.
    assert found.splitlines() == [
        "3 matches for files named '*.py' under '.' (searched 6 files):",
        "readme.py",
        ".venv/lib/site.py",
        "node_modules/pkg/index.py",
        "[Skipped 1 file or directory matching the exclude setting.]",
    ]
