"""The simulator's deterministic stand-in for a model: what to answer, from the last turn.

This is a script, not a model. It looks back over the conversation for the last item that asks
for an answer and decides:

- a user text containing `say: <text>`      -> reply exactly `<text>` (a hook for tests);
- a user text naming a session function tool -> call that tool, arguments from the text;
- a `function_call_output` or system message -> "Tool result: <text, truncated>";
- user audio                                  -> its transcript answered as text (a tool is
                                                 called by its spoken name), else
                                                 "I heard you speak for N ms.";
- any other user text                         -> "You said: <text>".
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

READBACK_CHARS = 200
GREETING = "Hello from the mcp-voice simulator."

_SAY = re.compile(r"\bsay:\s*(.*)", re.DOTALL | re.IGNORECASE)
_PAIR = re.compile(r"""([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|[^\s,;]+)""")
_NAME_CHARS = "A-Za-z0-9_-"


@dataclass(frozen=True)
class Reply:
    text: str


@dataclass(frozen=True)
class Call:
    name: str
    arguments: str


def decide(
    items: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]] = (),
    tool_choice: Any = "auto",
    audio_ms: Mapping[str, int] | None = None,
    heard: Mapping[str, str] | None = None,
) -> Reply | Call:
    """The answer to the conversation `items` (oldest first), given the tools on offer.

    `heard`: what the recogniser made of user audio items (by id), answered as typed text is."""
    for item in reversed(items):
        kind, role = item.get("type"), item.get("role")
        if kind == "function_call_output":
            return Reply(_readback(str(item.get("output", ""))))
        if kind != "message" or role not in ("user", "system"):
            continue
        text = " ".join(
            str(c.get("text") or "") for c in item.get("content") or () if c.get("type") == "input_text"
        ).strip()
        if role == "system":
            return Reply(_readback(text))
        if not text:
            text = (heard or {}).get(str(item.get("id")), "").strip()
            if text:
                return _answer_text(text, tools, tool_choice, spoken=True)
            ms = (audio_ms or {}).get(str(item.get("id")), 0)
            return Reply(f"I heard you speak for {ms} ms.")
        return _answer_text(text, tools, tool_choice)
    return Reply(GREETING)


def _readback(text: str) -> str:
    short = text if len(text) <= READBACK_CHARS else text[:READBACK_CHARS] + "…"
    return f"Tool result: {short}"


def _answer_text(
    text: str, tools: Sequence[Mapping[str, Any]], tool_choice: Any, *, spoken: bool = False
) -> Reply | Call:
    said = _SAY.search(text)
    if said:
        return Reply(said.group(1).strip())
    names = [str(t["name"]) for t in tools if t.get("type", "function") == "function" and t.get("name")]
    name = None
    if isinstance(tool_choice, Mapping) and tool_choice.get("name") in names:
        name = str(tool_choice["name"])
    elif tool_choice != "none":
        found = spoken_tool(text, names) if spoken else named_tool(text, names)
        name = found or (names[0] if tool_choice == "required" and names else None)
    if name is None:
        return Reply(f"You said: {text}")
    return Call(name, json.dumps(arguments_from_text(text), ensure_ascii=False))


def named_tool(text: str, names: Sequence[str]) -> str | None:
    """The tool whose exact name appears first in `text` (the longer name on a tie)."""
    best: tuple[int, int, str] | None = None
    for name in names:
        m = re.search(rf"(?<![{_NAME_CHARS}]){re.escape(name)}(?![{_NAME_CHARS}])", text)
        if m and (best is None or (m.start(), -len(name)) < best[:2]):
            best = (m.start(), -len(name), name)
    return best[2] if best else None


def spoken_form(name: str) -> str:
    """A tool name as it is said: `calendar__list_events` / `listEvents` -> "calendar list events"."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return " ".join(re.split(r"[_\-\s]+", spaced.lower())).strip()


def spoken_tool(text: str, names: Sequence[str]) -> str | None:
    """The tool whose spoken form appears first in a transcript (the longer one on a tie).

    A tool named by its last words alone counts too ("list events" for `calendar__list_events`),
    when no other tool ends the same way."""
    said = " " + " ".join(re.findall(r"[a-z0-9']+", text.lower())) + " "
    best: tuple[int, int, str] | None = None
    for name in names:
        full = spoken_form(name)
        forms = [full]
        if "__" in name:
            tail = spoken_form(name.split("__", 1)[1])
            if sum(spoken_form(n).endswith(" " + tail) or spoken_form(n) == tail for n in names) == 1:
                forms.append(tail)
        for form in forms:
            at = said.find(f" {form} ")
            if at >= 0 and (best is None or (at, -len(form)) < best[:2]):
                best = (at, -len(form), name)
    return best[2] if best else None


def arguments_from_text(text: str) -> dict[str, Any]:
    """The first JSON object in `text`, else its `key=value` pairs, else `{}`."""
    decoder = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch == "{":
            try:
                value, _ = decoder.raw_decode(text, i)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    args: dict[str, Any] = {}
    for key, raw in _PAIR.findall(text):
        if raw[0] in "\"'":
            args[key] = raw[1:-1]
            continue
        try:
            args[key] = json.loads(raw)
        except ValueError:
            args[key] = raw
    return args
