"""The GA items and events the host itself writes, built in one place so their shapes stay exact.

Everything here is a plain dict constructor: no state, no I/O. Client-bound events must validate
against the openai SDK's `RealtimeServerEvent` union, so every required field is always present.
"""

from __future__ import annotations

import json
from typing import Any

from mcp_voice.protocol.events import new_event_id
from mcp_voice.tools.spec import HostTool, ToolImage, ToolResult

Event = dict[str, Any]


def item_create(item: Event) -> Event:
    """A host `conversation.item.create` (its own event id, so its errors can be recognised)."""
    return {"type": "conversation.item.create", "event_id": new_event_id(), "item": item}


def function_call_output(item_id: str, call_id: str, output: str) -> Event:
    return {"type": "function_call_output", "id": item_id, "call_id": call_id, "output": output}


def system_message(item_id: str, text: str) -> Event:
    return {
        "type": "message",
        "id": item_id,
        "role": "system",
        "content": [{"type": "input_text", "text": text}],
    }


def image_message(item_id: str, images: tuple[ToolImage, ...]) -> Event:
    """Tool images as a user message: the only item kind that carries `input_image` to the model."""
    content = [{"type": "input_image", "image_url": image.data_url} for image in images]
    return {"type": "message", "id": item_id, "role": "user", "content": content}


def _json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False)


def running_output(tool: HostTool, call_id: str) -> str:
    """The placeholder a long-running call answers with at once, so the model can keep talking.

    Its wording is for a real model: say it started, keep the conversation going, invent nothing.
    """
    message = (
        f"{tool.name} is running in the background (job {call_id}); the result will follow in a "
        "later system message. Tell the user briefly that it has started and keep the conversation "
        "going. Do not guess, invent or announce its result before that message arrives."
    )
    return _json({"status": "running", "job_id": call_id, "tool": tool.name, "message": message})


def declined_output(tool: HostTool, reason: str | None) -> str:
    message = f"The user declined to run {tool.name}." + (f" Reason: {reason}" if reason else "")
    return _json({"status": "declined", "tool": tool.name, "message": message})


def refused_output(name: str, reason: str) -> str:
    message = f"{name} may not be run in this session: {reason}."
    return _json({"status": "error", "tool": name, "message": message})


def cancelled_output(tool: HostTool, why: str = "because the user interrupted") -> str:
    message = f"{tool.name} was cancelled {why}; it produced no result."
    return _json({"status": "cancelled", "tool": tool.name, "message": message})


_TOGETHER = (
    " If other background results arrived with this one, cover them all in one reply."
    " Do not repeat anything you have already said."
)


def result_note(tool: HostTool, call_id: str, result: ToolResult) -> str:
    """The system message that delivers a long-running call's result: the tool, its call_id, the result."""
    job = f"The background job {tool.name} (call_id {call_id}, job_id {call_id})"
    if result.is_error:
        return f"{job} failed. Error: {result.output}\nTell the user briefly that it failed.{_TOGETHER}"
    return f"{job} has finished. Result: {result.output}\nTell the user the result now.{_TOGETHER}"


def progress_note(tool: HostTool, call_id: str, done: float, total: float | None, message: str | None) -> str:
    amount = f"{done:g}/{total:g}" if total else f"{done:g}"
    tail = f": {message}" if message else ""
    return f"Progress of the background job {tool.name} (call_id {call_id}): {amount}{tail}. Still running."


# -- client-bound events -------------------------------------------------------------------------


def mcp_call_item(
    item_id: str,
    server_label: str,
    name: str,
    arguments: str,
    *,
    output: str | None = None,
    error: str | None = None,
    approval_request_id: str | None = None,
) -> Event:
    """A host call as the client sees it: an MCP call the server runs, never a function to run."""
    item: Event = {
        "type": "mcp_call",
        "id": item_id,
        "server_label": server_label,
        "name": name,
        "arguments": arguments,
        "output": output,
        "error": None if error is None else {"type": "tool_execution_error", "message": error},
    }
    if approval_request_id is not None:
        item["approval_request_id"] = approval_request_id
    return item


def mcp_call_event(kind: str, item_id: str, output_index: int) -> Event:
    """`response.mcp_call.in_progress|completed|failed`."""
    return {
        "type": f"response.mcp_call.{kind}",
        "event_id": new_event_id(),
        "item_id": item_id,
        "output_index": output_index,
    }


def item_added(item: Event, previous_item_id: str | None = None) -> Event:
    event: Event = {"type": "conversation.item.added", "event_id": new_event_id(), "item": item}
    if previous_item_id is not None:
        event["previous_item_id"] = previous_item_id
    return event


def item_done(item: Event, previous_item_id: str | None = None) -> Event:
    event: Event = {"type": "conversation.item.done", "event_id": new_event_id(), "item": item}
    if previous_item_id is not None:
        event["previous_item_id"] = previous_item_id
    return event


def output_item_done(response_id: str, output_index: int, item: Event) -> Event:
    """`response.output_item.done`: how a response tells its client an output item is final."""
    return {
        "type": "response.output_item.done",
        "event_id": new_event_id(),
        "response_id": response_id,
        "output_index": output_index,
        "item": item,
    }


def response_create() -> Event:
    return {"type": "response.create", "event_id": new_event_id()}
