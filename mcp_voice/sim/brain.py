"""What a session gives the parts that think and hear: the chat model's request, the recogniser's words.

Kept apart from the connection (which only routes events): `thought` turns a `response.create`
into the chat model's streamed answer; `vocabulary` is what the recogniser may expect to hear.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mcp_voice.sim.chat_history import chat_messages, chat_tool_choice, chat_tools
from mcp_voice.sim.config import LlmSettings
from mcp_voice.sim.llm import stream_chat
from mcp_voice.sim.responses import Thought


def thought(
    llm: LlmSettings,
    session: Mapping[str, Any],
    params: Mapping[str, Any],
    items: list[dict[str, Any]],
    heard: Mapping[str, str],
) -> Thought:
    """The chat model's answer to one response: the history is taken now, the model asked when it runs."""
    tools = params["tools"] if "tools" in params else session.get("tools") or []
    instructions = str(params.get("instructions", session.get("instructions") or ""))
    messages = chat_messages(instructions, items, dict(heard))
    limit = params.get("max_output_tokens", session.get("max_output_tokens"))
    choice = chat_tool_choice(params.get("tool_choice", session.get("tool_choice", "auto")))
    return lambda: stream_chat(
        llm, messages, chat_tools(tools), choice, limit if isinstance(limit, int) else None
    )


def vocabulary(session: Mapping[str, Any]) -> list[str]:
    """Words this session expects to hear: its tool names, instructions, transcription prompt."""
    tools = [t for t in session.get("tools") or [] if t.get("type", "function") == "function"]
    words = [str(t.get("name", "")) for t in tools]
    if tools:  # the default instructions alone do not say what a user will ask
        words.append(str(session.get("instructions") or ""))
    transcription = session["audio"]["input"].get("transcription") or {}
    words.append(str(transcription.get("prompt") or ""))
    return [w for w in words if w]
