"""The "filesystem" MCP server: tools over one directory tree, jailed to it.

Tools are `async def` and run their blocking work in a worker thread; read work is abandoned
on cancellation (so a cancelled call returns at once), writes are not (they are short, and a
caller must not be told "cancelled" about a write that happened).
"""

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import ToolAnnotations
from pydantic import Field

from mcp_voice import META_LONG_RUNNING, preserve_root_logging

from . import listing, writes
from .content import read_text
from .jail import DEFAULT_EXCLUDE, Jail
from .search import Search, format_results

SERVER_NAME = "filesystem"
DEFAULT_MAX_READ_BYTES = 256 * 1024
DEFAULT_MAX_RESULTS = 50
MAX_RESULTS_LIMIT = 500

T = TypeVar("T")

READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)

PathArg = Annotated[str, Field(description="Path relative to the shared folder ('.' is the folder itself).")]


async def _read(fn: Callable[..., T], *args: Any) -> T:
    return await anyio.to_thread.run_sync(fn, *args, abandon_on_cancel=True)


async def _write(fn: Callable[..., T], *args: Any) -> T:
    return await anyio.to_thread.run_sync(fn, *args)


def build_server(
    root: str | Path,
    *,
    writable: bool = False,
    max_read_bytes: int = DEFAULT_MAX_READ_BYTES,
    include_hidden: bool = False,
    exclude: Sequence[str] = DEFAULT_EXCLUDE,
    refuse_hardlinks: bool = False,
) -> MCPServer:
    """An in-process MCP server for the tree at `root`. Raises RootError if `root` is not a directory.

    Hidden entries (names starting with ".") are not shared unless `include_hidden`; names
    matching an `exclude` glob never are.
    """
    if max_read_bytes < 1:
        raise ValueError(f"max_read_bytes must be positive, not {max_read_bytes}")
    jail = Jail(root, include_hidden=include_hidden, exclude=exclude, refuse_hardlinks=refuse_hardlinks)
    mode = "read and write" if writable else "read (not change)"
    hidden = "" if include_hidden else " Hidden files (names starting with '.') are not shared."
    with preserve_root_logging():  # MCPServer would otherwise call logging.basicConfig
        server = MCPServer(
            SERVER_NAME,
            instructions=(
                f"Files in one shared folder, which you may {mode}. Paths are relative to that folder; "
                f"nothing outside it is reachable.{hidden}"
            ),
            log_level="WARNING",
        )
    _add_read_tools(server, jail, max_read_bytes)
    if writable:
        _add_write_tools(server, jail)
    return server


def _add_read_tools(server: MCPServer, jail: Jail, max_read_bytes: int) -> None:
    @server.tool(annotations=READ_ONLY, structured_output=False)
    async def list_directory(path: PathArg = ".") -> str:
        """List a directory: subdirectories first (ending in "/"), then files with their sizes."""
        return await _read(listing.list_directory, jail, path)

    @server.tool(annotations=READ_ONLY, structured_output=False)
    async def read_file(
        path: PathArg,
        start_line: Annotated[int | None, Field(description="First line to read, counting from 1.")] = None,
        end_line: Annotated[int | None, Field(description="Last line to read (included).")] = None,
    ) -> str:
        """Read a text file, or a range of its lines. Long files are cut off with a note saying
        where to continue; binary files are described, not shown."""

        def read() -> str:
            return read_text(jail.resolve_file(path), path, start_line, end_line, max_read_bytes, jail)

        return await _read(read)

    @server.tool(annotations=READ_ONLY, structured_output=False)
    async def file_info(path: PathArg) -> str:
        """Facts about a file or directory: type, size, last modified time, permissions,
        text or binary, and line count."""
        return await _read(listing.file_info, jail, path)

    @server.tool(annotations=READ_ONLY, meta={META_LONG_RUNNING: True}, structured_output=False)
    async def search_files(
        ctx: Context,
        pattern: Annotated[
            str, Field(description="File name pattern, e.g. '*.pdf' or 'report*'. Case is ignored.")
        ] = "*",
        content: Annotated[
            str | None, Field(description="Only files containing this text (case is ignored).")
        ] = None,
        regex: Annotated[bool, Field(description="Treat content as a regular expression.")] = False,
        path: Annotated[str, Field(description="Directory to search in ('.' is the whole folder).")] = ".",
        max_results: Annotated[
            int, Field(description="Stop after this many matches.", ge=1)
        ] = DEFAULT_MAX_RESULTS,
    ) -> str:
        """Find files by name and, optionally, by text they contain. Searches subdirectories too.
        With content, each match is a line: "path:line: text"."""
        start = await _read(jail.resolve_dir, path)
        search = Search(jail, start, pattern, content, regex, min(max_results, MAX_RESULTS_LIMIT))
        try:
            while not search.done:
                scanned = search.files_scanned
                await _read(search.step)
                if search.files_scanned != scanned and not search.done:
                    await ctx.report_progress(search.files_scanned, None, search.progress_message())
        finally:
            search.cancelled = True  # a worker thread abandoned by cancellation stops at its next file
        return format_results(search, path)


def _add_write_tools(server: MCPServer, jail: Jail) -> None:
    @server.tool(
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False
        ),
        structured_output=False,
    )
    async def write_file(
        path: PathArg,
        content: Annotated[str, Field(description="The complete new text of the file.")],
        overwrite: Annotated[bool, Field(description="Replace the file if it already exists.")] = False,
    ) -> str:
        """Save text to a file. Refuses to replace an existing file unless overwrite is true;
        the directory must already exist."""
        return await _write(writes.write_file, jail, path, content, overwrite)

    @server.tool(
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
        ),
        structured_output=False,
    )
    async def make_directory(path: PathArg) -> str:
        """Create a directory, and any missing parent directories."""
        return await _write(writes.make_directory, jail, path)

    @server.tool(
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False
        ),
        structured_output=False,
    )
    async def move(
        source: Annotated[str, Field(description="The file or directory to move or rename.")],
        destination: Annotated[
            str, Field(description="New path; if it is an existing directory, the source moves into it.")
        ],
    ) -> str:
        """Move or rename a file or directory. Never replaces something that already exists."""
        return await _write(writes.move, jail, source, destination)
