"""MCP call outcomes -> `ToolResult`s shaped for the model.

Everything the model gets back is a string it can read out: text joined, structured content as
JSON, and every failure (tool error, timeout, crashed server, bad arguments) as a JSON object
`{"error": {"tool", "message", "kind"}}` rather than an exception, so a voice session never stalls
on a tool problem.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Literal

import mcp.types as types

from mcp_voice.tools.spec import ToolImage, ToolResult

ErrorKind = Literal["timeout", "tool_error", "server_unavailable", "bad_arguments", "unknown_tool"]


def error_result(tool: str, kind: ErrorKind, message: str) -> ToolResult:
    """A failed call, as an error object the model can read."""
    payload = {"error": {"tool": tool, "message": message, "kind": kind}}
    return ToolResult(output=json.dumps(payload, ensure_ascii=False), is_error=True)


def _describe_block(block: Any, images: list[ToolImage]) -> str | None:
    """One content block as text; images are collected and only named in the text."""
    if isinstance(block, types.TextContent):
        return block.text
    if isinstance(block, types.ImageContent):
        images.append(ToolImage(mime_type=block.mime_type, data=block.data))
        return f"[image: {block.mime_type}]"
    if isinstance(block, types.AudioContent):
        return f"[audio: {block.mime_type}]"
    if isinstance(block, types.ResourceLink):
        label = block.title or block.name
        return f"[resource: {label} {block.uri}]" if label else f"[resource: {block.uri}]"
    if isinstance(block, types.EmbeddedResource):
        resource = block.resource
        if isinstance(resource, types.TextResourceContents):
            return resource.text
        mime = resource.mime_type or "application/octet-stream"
        if mime.startswith("image/") and isinstance(resource, types.BlobResourceContents):
            images.append(ToolImage(mime_type=mime, data=resource.blob))
            return f"[image: {mime}]"
        return f"[resource: {mime} {resource.uri}]"
    return None


def content_text(result: types.CallToolResult) -> tuple[str, tuple[ToolImage, ...]]:
    """The text blocks joined with newlines, and the images the result carried."""
    images: list[ToolImage] = []
    parts = [text for block in result.content if (text := _describe_block(block, images)) is not None]
    return "\n".join(parts), tuple(images)


_SDK_ERROR_PREFIX = re.compile(r"^Error executing tool [^:\s]+: ")
"""MCPServer prefixes a tool's own error message with this; the model only needs the message."""


_VALIDATION_HEADER = re.compile(r"^\d+ validation errors? for \w+Arguments\s*$")
"""How MCPServer reports arguments that fail its pydantic model (the first line of the text)."""
_VALIDATION_TAIL = re.compile(r"\s*\[type=.*$")


def argument_errors(text: str) -> str | None:
    """A pydantic argument-validation report as `name: problem; ...`, or None if `text` is not one.

    The raw report is written for Python developers (model class names, `input_type`, a docs
    URL); the model needs which argument is wrong and why, so it can correct the call.
    """
    lines = text.strip().splitlines()
    if not lines or not _VALIDATION_HEADER.match(lines[0]):
        return None
    problems: list[str] = []
    where: str | None = None
    for line in lines[1:]:
        if not line.startswith(" "):
            where = line.strip()
        elif not line.strip().startswith("For further information") and where is not None:
            problems.append(f"{where}: {_VALIDATION_TAIL.sub('', line.strip())}")
            where = None
    return "; ".join(problems) if problems else None


_NO_VALUE = object()


def wrapped_value(result: types.CallToolResult, output_schema: Mapping[str, Any] | None = None) -> Any:
    """X when `result` is MCPServer's `{"result": X}` wrapping of a non-object return value, else `_NO_VALUE`.

    MCPServer wraps a tool returning `str`, `int`, `list[...]` as structured `{"result": X}` and
    puts X itself in the text content; the model should hear X, not the wrapper. The SDK leaves
    no marker, so a wrapper is recognised by its shape: one "result" key (the only property the
    output schema declares, when it is known) and text content that is X (each item of a list as
    its own block). A genuine object `{"result": ...}` has that whole object as its text, so it
    is left alone.
    """
    structured = result.structured_content
    if not isinstance(structured, dict) or set(structured) != {"result"}:
        return _NO_VALUE
    if output_schema is not None:
        properties = output_schema.get("properties")
        if not isinstance(properties, Mapping) or set(properties) != {"result"}:
            return _NO_VALUE
    value = structured["result"]
    texts: list[str] = []
    for block in result.content:
        if not isinstance(block, types.TextContent):
            return _NO_VALUE
        texts.append(block.text)
    return value if _is_content_of(value, texts) else _NO_VALUE


def _is_content_of(value: Any, texts: list[str]) -> bool:
    """Whether `texts` are the blocks MCPServer makes of `value` (lists flattened, None dropped).

    Strings must be equal; other items are compared as parsed JSON, so indentation does not matter.
    """
    items = _flatten(value)
    if len(items) != len(texts):
        return False
    for item, text in zip(items, texts, strict=True):
        if isinstance(item, str):
            if text != item:
                return False
            continue
        try:
            if json.loads(text) != item:
                return False
        except ValueError:
            return False
    return True


def _flatten(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return [leaf for item in value for leaf in _flatten(item)]
    return [value]


def tool_result(
    tool: str, result: types.CallToolResult, *, output_schema: Mapping[str, Any] | None = None
) -> ToolResult:
    """A `CallToolResult` as the model should see it.

    `output_schema` (the tool's declared one, if known) helps recognise a wrapped plain value;
    a wrapped string comes back as that text, other wrapped values as their JSON.
    """
    text, images = content_text(result)
    if result.is_error:
        text = _SDK_ERROR_PREFIX.sub("", text, count=1)
        bad_arguments = argument_errors(text)
        if bad_arguments is not None:
            failed = error_result(tool, "bad_arguments", f"invalid arguments: {bad_arguments}")
        else:
            failed = error_result(tool, "tool_error", text or "the tool reported an error without a message")
        return ToolResult(output=failed.output, is_error=True, images=images)
    structured = result.structured_content
    value = wrapped_value(result, output_schema)
    if value is not _NO_VALUE:
        output = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        return ToolResult(output=output, images=images, structured=value)
    if structured is not None:
        # Structured content is the tool's declared answer; the text blocks usually repeat it.
        output = json.dumps(structured, ensure_ascii=False, default=str)
    else:
        output = text
    return ToolResult(output=output, images=images, structured=structured)
