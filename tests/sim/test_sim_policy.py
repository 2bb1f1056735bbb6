"""The scripted policy, as a pure function."""

from __future__ import annotations

import json

from mcp_voice.sim.policy import GREETING, Call, Reply, arguments_from_text, decide, named_tool

TOOLS = [{"type": "function", "name": "fs__read"}, {"type": "function", "name": "fs__read_file"}]


def user(text: str) -> dict:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def test_named_tool_is_exact_and_prefers_the_first_then_longest() -> None:
    names = [t["name"] for t in TOOLS]
    assert named_tool("please fs__read_file now", names) == "fs__read_file"
    assert named_tool("fs__read then fs__read_file", names) == "fs__read"
    assert named_tool("xfs__read", names) is None


def test_arguments() -> None:
    assert arguments_from_text('x {bad} then {"a": [1, {"b": 2}]} and {"c": 3}') == {"a": [1, {"b": 2}]}
    assert arguments_from_text("path='a b.txt' n=2 flag=true name=bob,") == {
        "path": "a b.txt",
        "n": 2,
        "flag": True,
        "name": "bob",
    }
    assert arguments_from_text("nothing here") == {}


def test_decisions() -> None:
    assert decide([user("fs__read path=x")], TOOLS) == Call("fs__read", json.dumps({"path": "x"}))
    assert decide([user("fs__read path=x")], TOOLS, "none") == Reply("You said: fs__read path=x")
    assert decide([user("hi")], TOOLS, {"type": "function", "name": "fs__read"}) == Call("fs__read", "{}")
    assert decide([user("say: fs__read")], TOOLS) == Reply("fs__read")
    output = {"type": "function_call_output", "call_id": "c", "output": "x" * 500}
    reply = decide([user("fs__read"), {"type": "function_call", "name": "fs__read"}, output], TOOLS)
    assert isinstance(reply, Reply) and reply.text.startswith("Tool result: xxx") and len(reply.text) < 220
    system = {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "done: 42"}]}
    assistant = {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]}
    assert decide([system, assistant], TOOLS) == Reply("Tool result: done: 42")
    audio = {"id": "item_a", "type": "message", "role": "user", "content": [{"type": "input_audio"}]}
    assert decide([audio], TOOLS, audio_ms={"item_a": 640}) == Reply("I heard you speak for 640 ms.")
    assert decide([], TOOLS) == Reply(GREETING)
