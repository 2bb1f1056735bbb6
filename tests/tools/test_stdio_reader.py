"""Our stdio reader (tools/stdio_reader.py): long results whole and in linear time, huge ones capped.

Real subprocess servers over real pipes: a result many times a pipe's buffer arrives whole through
the registry; one over the cap fails that call at once with a reason, and the connection goes on.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp.shared.message import SessionMessage

from mcp_voice.tools import ServerSpec, ToolRegistry
from mcp_voice.tools.stdio_reader import LineFramer, linear_stdio_client, too_big_answer

pytestmark = pytest.mark.anyio

BIG = StdioServerParameters(command=sys.executable, args=[str(Path(__file__).parent / "servers" / "big.py")])


async def test_a_result_of_megabytes_arrives_whole_through_the_registry() -> None:
    async with ToolRegistry([ServerSpec("big", BIG)]) as registry:
        assert registry.errors == {}
        for size in (3 * 2**20, 10, 2**16 + 1):
            result = await registry.call("big__blob", {"size": size})
            assert not result.is_error, result.output[:200]
            assert len(result.output) == size and result.output[0] == "<" and result.output[-1] == ">"


async def test_a_message_over_the_cap_fails_its_call_with_a_reason_and_the_connection_goes_on() -> None:
    async with Client(linear_stdio_client(BIG, max_message_bytes=200_000)) as client:
        with pytest.raises(MCPError, match="over this host's limit of 200000: not read"):
            await client.call_tool("blob", {"size": 1_000_000})
        small = await client.call_tool("blob", {"size": 50_000})
        assert small.content[0].text == "<" + "x" * 49_998 + ">"  # type: ignore[union-attr]


def test_the_framer_joins_pieces_once_and_splits_many_lines_per_chunk() -> None:
    framer = LineFramer(max_bytes=10)
    assert framer.feed(b'{"a"') == []
    assert framer.feed(b':1}\n{"b":2}\n{"c') == [b'{"a":1}', b'{"b":2}']
    assert framer.feed(b'":3}\n') == [b'{"c":3}']
    assert framer.feed(b'{"id": 7, "result"') == []  # over 10 bytes: skipped from here on
    skipped = framer.feed(b': "' + b"y" * 100 + b'"}\n{"d":4}\n')
    size, head = skipped[0]  # its size, and its start (where the id of the request it answers is)
    assert size == len(b'{"id": 7, "result": "') + 102 and head.startswith(b'{"id": 7, ')
    assert skipped[1] == b'{"d":4}'


def test_only_an_over_long_answer_gets_an_error_in_its_place() -> None:
    head = b'{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"x'
    answer = too_big_answer(10**8, head, 100)
    assert isinstance(answer, SessionMessage)
    assert answer.message.id == 7 and "over this host's limit of 100" in answer.message.error.message  # type: ignore[union-attr]
    head = b'{"jsonrpc":"2.0","id":7,"method":"sampling/createMessage","params":{'
    request = too_big_answer(10**8, head, 100)
    assert isinstance(request, ValueError)  # the server's own request: nothing of ours to answer
