"""The Realtime conversation as a Chat Completions request: messages, tools, tool choice.

Instructions become the system message; user text and what was recognised in user audio become
user messages; assistant text or transcripts (after a barge-in truncation, only what was heard)
become assistant messages; `function_call` items become an assistant message's `tool_calls`
(consecutive calls together) and `function_call_output` items `tool` messages. Items are taken
in conversation order, so `previous_item_id` placements carry over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Message = dict[str, Any]
UNHEARD = "(inaudible)"


def _text(item: Mapping[str, Any], item_id: str, heard: Mapping[str, str]) -> str:
    if item_id in heard:
        return heard[item_id]
    parts = []
    for content in item.get("content") or ():
        kind = content.get("type")
        if kind in ("input_text", "output_text", "text"):
            parts.append(str(content.get("text") or ""))
        elif kind in ("input_audio", "output_audio", "audio"):
            parts.append(str(content.get("transcript") or ""))
    return " ".join(p for p in parts if p).strip()


def chat_messages(
    instructions: str, items: Sequence[Mapping[str, Any]], heard: Mapping[str, str]
) -> list[Message]:
    messages: list[Message] = [{"role": "system", "content": instructions}] if instructions else []
    for item in items:
        kind, item_id = item.get("type"), str(item.get("id"))
        if kind == "message":
            role = item.get("role")
            text = _text(item, item_id, heard)
            if role == "user":
                messages.append({"role": "user", "content": text or UNHEARD})
            elif role == "system":
                messages.append({"role": "system", "content": text})
            elif role == "assistant" and text:
                messages.append({"role": "assistant", "content": text})
        elif kind == "function_call":
            call = {
                "id": item.get("call_id"),
                "type": "function",
                "function": {"name": item.get("name"), "arguments": item.get("arguments") or "{}"},
            }
            last = messages[-1] if messages else None
            if last and last["role"] == "assistant" and "tool_calls" in last:
                last["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            messages.append(
                {"role": "tool", "tool_call_id": item.get("call_id"), "content": str(item.get("output", ""))}
            )
    return messages


def chat_tools(tools: Sequence[Mapping[str, Any]]) -> list[Message]:
    """Realtime function tools (the host's MCP tools among them) as chat tools."""
    return [
        {
            "type": "function",
            "function": {
                "name": tool["name"],
                "description": tool.get("description") or "",
                "parameters": tool.get("parameters") or {"type": "object", "properties": {}},
            },
        }
        for tool in tools
        if tool.get("type", "function") == "function" and tool.get("name")
    ]


def chat_tool_choice(choice: Any) -> Any:
    if isinstance(choice, Mapping) and choice.get("name"):
        return {"type": "function", "function": {"name": choice["name"]}}
    return choice if choice in ("auto", "none", "required") else None
