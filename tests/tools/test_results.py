"""MCP results and failures become strings the model can read out."""

from __future__ import annotations

import json

import mcp.types as types
import pytest
from mcp.server import MCPServer
from pydantic import BaseModel

from mcp_voice.tools import ServerSpec, ToolRegistry
from mcp_voice.tools.results import error_result, tool_result


def test_text_blocks_are_joined_with_newlines() -> None:
    result = types.CallToolResult(
        content=[types.TextContent(type="text", text="one"), types.TextContent(type="text", text="two")]
    )
    assert tool_result("s__t", result).output == "one\ntwo"


def test_structured_content_is_the_output() -> None:
    result = types.CallToolResult(
        content=[types.TextContent(type="text", text='{"temp": 21}')], structured_content={"temp": 21}
    )
    out = tool_result("s__t", result)
    assert json.loads(out.output) == {"temp": 21}
    assert out.structured == {"temp": 21} and not out.is_error


def test_images_are_kept_aside_and_named_in_the_text() -> None:
    result = types.CallToolResult(
        content=[
            types.TextContent(type="text", text="chart"),
            types.ImageContent(type="image", data="aGVsbG8=", mime_type="image/png"),
        ]
    )
    out = tool_result("s__t", result)
    assert out.output == "chart\n[image: image/png]"
    assert out.images[0].mime_type == "image/png"
    assert out.images[0].data_url == "data:image/png;base64,aGVsbG8="
    assert "aGVsbG8=" not in out.output


def test_tool_error_becomes_an_error_object() -> None:
    result = types.CallToolResult(content=[types.TextContent(type="text", text="disk full")], is_error=True)
    out = tool_result("files__write", result)
    assert out.is_error
    assert json.loads(out.output) == {
        "error": {"tool": "files__write", "message": "disk full", "kind": "tool_error"}
    }


def test_error_result_is_json_the_model_can_read() -> None:
    out = error_result("cal__list", "timeout", "the tool did not finish within 2 s")
    assert out.is_error
    assert json.loads(out.output)["error"]["kind"] == "timeout"


def test_argument_validation_report_becomes_bad_arguments() -> None:
    report = (
        "Error executing tool add: 2 validation errors for addArguments\n"
        "a\n"
        "  Input should be a valid integer [type=int_type, input_value=[1], input_type=list]\n"
        "    For further information visit https://errors.pydantic.dev/2.14/v/int_type\n"
        "to.street\n"
        "  Field required [type=missing, input_value={}, input_type=dict]\n"
    )
    result = tool_result(
        "s__add", types.CallToolResult(content=[types.TextContent(type="text", text=report)], is_error=True)
    )
    assert json.loads(result.output)["error"] == {
        "tool": "s__add",
        "message": "invalid arguments: a: Input should be a valid integer; to.street: Field required",
        "kind": "bad_arguments",
    }


def test_a_tool_message_that_mentions_validation_stays_a_tool_error() -> None:
    text = "2 validation errors in the spreadsheet: row 3, row 9"
    result = tool_result(
        "s__check", types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)
    )
    assert json.loads(result.output)["error"] == {"tool": "s__check", "message": text, "kind": "tool_error"}


# --- MCPServer's {"result": X} wrapper, through a real registry ----------------------------------


class Answer(BaseModel):
    """A genuine object result that happens to have a single "result" field."""

    result: str


class Event(BaseModel):
    title: str
    minutes: int


def wrapper_server() -> MCPServer:
    server = MCPServer("w")

    @server.tool()
    async def forecast(days: int = 1) -> str:
        return f"sunny for {days} day(s)"

    @server.tool()
    async def count() -> int:
        return 3

    @server.tool()
    async def names() -> list[str]:
        return ["ann", "bob"]

    @server.tool()
    async def events() -> list[Event]:
        return [Event(title="standup", minutes=15), Event(title="review", minutes=60)]

    @server.tool()
    async def nothing() -> list[Event]:
        return []

    @server.tool()
    async def answer() -> Answer:
        return Answer(result="42")

    @server.tool()
    async def mapping() -> dict[str, str]:
        return {"result": "kept"}

    @server.tool()
    async def handmade() -> types.CallToolResult:
        # A server that means {"result": 5} as an object and says something else in its text.
        return types.CallToolResult(
            content=[types.TextContent(type="text", text="five")], structured_content={"result": 5}
        )

    return server


@pytest.mark.anyio
async def test_wrapped_plain_values_are_unwrapped_and_real_objects_are_not() -> None:
    async with ToolRegistry([ServerSpec("w", wrapper_server())]) as registry:
        outputs = {t.tool_name: (await registry.call(t.name, {})) for t in registry.tools()}
    assert outputs["forecast"].output == "sunny for 1 day(s)"
    assert outputs["forecast"].structured == "sunny for 1 day(s)"
    assert outputs["count"].output == "3"
    assert json.loads(outputs["names"].output) == ["ann", "bob"]
    assert json.loads(outputs["events"].output) == [
        {"title": "standup", "minutes": 15},
        {"title": "review", "minutes": 60},
    ]
    assert outputs["nothing"].output == "[]"
    assert json.loads(outputs["answer"].output) == {"result": "42"}
    assert json.loads(outputs["mapping"].output) == {"result": "kept"}
    assert json.loads(outputs["handmade"].output) == {"result": 5}


def test_without_a_schema_the_text_decides() -> None:
    def result(text: str, structured: object) -> types.CallToolResult:
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=text)], structured_content=structured
        )

    assert tool_result("s__t", result("hello", {"result": "hello"})).output == "hello"
    assert tool_result("s__t", result("7", {"result": 7})).output == "7"
    # The text is the whole object: a genuine object result, shown as such.
    whole = tool_result("s__t", result('{\n  "result": "hello"\n}', {"result": "hello"}))
    assert json.loads(whole.output) == {"result": "hello"}
    # A schema declaring more than "result" is an object even when only "result" came back.
    schema = {"type": "object", "properties": {"result": {}, "note": {}}}
    partial = tool_result("s__t", result("hello", {"result": "hello"}), output_schema=schema)
    assert json.loads(partial.output) == {"result": "hello"}
