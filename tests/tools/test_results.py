"""MCP results and failures become strings the model can read out."""

from __future__ import annotations

import json

import mcp.types as types

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
