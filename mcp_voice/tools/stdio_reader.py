"""A stdio MCP transport whose reader costs linear time in a message's size, and caps it.

The mcp SDK's `stdio_client` reads the server's stdout as text chunks and, for every chunk,
joins its whole unfinished line with the chunk and splits the result again: a single 20 MB tool
result arrives in some 300 chunks and costs seconds of CPU (quadratic). `linear_stdio_client`
is the same transport with a reader that keeps a line's pieces in a list and joins them once,
at the newline. It also stops keeping a line once it passes `max_message_bytes`: the rest is
skipped as it arrives, and the request it answered gets a JSON-RPC error saying why (so the
tool call fails at once with a reason instead of the host parsing megabytes it would cut anyway).

Spawning and stopping the server (its own process group, the spec's shutdown sequence) are the
SDK's own helpers, unchanged; only the framing of stdout is ours. Lines are split on the byte
`\n`, which is safe for UTF-8 (the SDK's default, and the only encoding accepted here).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import TextIO

import anyio
import anyio.lowlevel
from mcp.client._transport import TransportStreams
from mcp.client.stdio import (
    _WRITER_FLUSH_TIMEOUT,
    StdioServerParameters,
    _create_platform_compatible_process,
    _drain_stdout,
    _get_executable_command,
    _parse_line,
    _stop_server_process,
    get_default_environment,
)
from mcp.shared.message import SessionMessage

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 32 * 2**20
"""A server message past this is not read. A result is in a message about twice (as text and as
`structuredContent`), so results up to some 16 MB arrive: far above any session's
`max_result_chars` (100,000 by default), which cuts a result to its limit after it is read."""
_HEAD_BYTES = 256
"""How much of a skipped message is kept: enough to find the id of the request it answers."""
_METHOD = re.compile(rb'^\s*\{(?:[^{}"]|"(?:[^"\\]|\\.)*")*?"method"\s*:')
"""A `method` key at the top level of the message's start (the SDK writes it before `params`)."""
_ID = re.compile(rb'"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.){0,200}")')


class LineFramer:
    """Bytes in, whole lines out: each byte is looked at a constant number of times."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._pieces: list[bytes] = []
        self._size = 0
        self._skipping = False

    def feed(self, chunk: bytes) -> list[bytes | tuple[int, bytes]]:
        """Lines completed by `chunk`; an over-long one as `(its size, its first bytes)`."""
        done: list[bytes | tuple[int, bytes]] = []
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            self._add(chunk[start:end])
            done.append((self._size, b"".join(self._pieces)) if self._skipping else b"".join(self._pieces))
            self._pieces, self._size, self._skipping = [], 0, False
            start = end + 1
        if start < len(chunk):
            self._add(chunk[start:] if start else chunk)
        return done

    def _add(self, piece: bytes) -> None:
        self._size += len(piece)
        if self._skipping:
            return
        if self._size > self.max_bytes:
            self._skipping = True
            head = b"".join(self._pieces)[:_HEAD_BYTES]
            self._pieces = [(head + piece)[:_HEAD_BYTES]]
            return
        self._pieces.append(piece)


def too_big_answer(size: int, head: bytes, limit: int) -> SessionMessage | Exception:
    """A JSON-RPC error for the request an over-long message answered (found by its id)."""
    message = f"the MCP server sent a message of {size} bytes, over this host's limit of {limit}: not read"
    match = _ID.search(head)
    if match is None or _METHOD.search(head):  # a request or notification from the server: no answer
        return ValueError(message)
    error = {"code": -32603, "message": message}
    answer = {"jsonrpc": "2.0", "id": json.loads(match.group(1)), "error": error}
    return _parse_line(json.dumps(answer))


@asynccontextmanager
async def linear_stdio_client(
    server: StdioServerParameters,
    errlog: TextIO = sys.stderr,
    *,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
) -> AsyncGenerator[TransportStreams, None]:
    """`mcp.client.stdio.stdio_client`, with a linear, capped reader (see the module docstring)."""
    if server.encoding.lower().replace("-", "") != "utf8":
        raise ValueError("linear_stdio_client reads UTF-8 only")
    process = await _create_platform_compatible_process(
        command=await _get_executable_command(server.command),
        args=server.args,
        env=get_default_environment() | (server.env or {}),
        errlog=errlog,
        cwd=server.cwd,
    )
    read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)
    writer_done = anyio.Event()
    errors = server.encoding_error_handler
    framer = LineFramer(max_message_bytes)

    async def read() -> None:
        assert process.stdout is not None
        try:
            async with read_writer:
                try:
                    async for chunk in process.stdout:
                        for line in framer.feed(chunk):
                            if isinstance(line, tuple):
                                logger.warning("skipped an MCP server message of %d bytes", line[0])
                                answer = too_big_answer(*line, max_message_bytes)
                            else:
                                answer = _parse_line(line.decode("utf-8", errors))
                            await read_writer.send(answer)
                except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                    return  # the session is gone
                finally:
                    await _drain_stdout(process)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, ConnectionError):
            pass  # shutdown closed the pipe under the read; the session sees the stream end

    async def write() -> None:
        assert process.stdin is not None
        try:
            async with write_reader:
                async for message in write_reader:
                    text = message.message.model_dump_json(by_alias=True, exclude_unset=True)
                    await process.stdin.send((text + "\n").encode("utf-8", errors))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            await read_writer.aclose()  # so a waiting request ends instead of hanging
        finally:
            writer_done.set()

    async with anyio.create_task_group() as group:
        group.start_soon(read)
        group.start_soon(write)
        try:
            yield read_stream, write_stream
        finally:
            with anyio.CancelScope(shield=True):  # the server process must not outlive us
                read_stream.close()
                write_stream.close()
                with anyio.move_on_after(_WRITER_FLUSH_TIMEOUT):
                    await writer_done.wait()
                await _stop_server_process(process)
                for stream in (read_stream, write_stream, read_writer, write_reader):
                    await stream.aclose()
                await anyio.lowlevel.checkpoint()
            group.cancel_scope.cancel()
