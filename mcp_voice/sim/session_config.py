"""The Realtime session configuration the simulator keeps: GA defaults, `session.update` merging.

Validation is rough on purpose: enough to answer nonsense with an `error` like the real server
does, not a full schema.
"""

from __future__ import annotations

import copy
import re
import secrets
import time
from typing import Any

from mcp_voice.protocol.events import ClientEventError

Session = dict[str, Any]

_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_FORMATS = ("audio/pcm", "audio/pcmu", "audio/pcma")
_TURN_TYPES = ("server_vad", "semantic_vad")


def default_session(model: str, instructions: str) -> Session:
    """What `session.created` reports for a new connection."""
    pcm = {"type": "audio/pcm", "rate": 24000}
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": "sess_" + secrets.token_hex(10),
        "model": model,
        "output_modalities": ["audio"],
        "instructions": instructions,
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "prompt": None,
        "truncation": "auto",
        "expires_at": int(time.time()) + 3600,
        "audio": {
            "input": {
                "format": dict(pcm),
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 500,
                    "idle_timeout_ms": None,
                    "create_response": True,
                    "interrupt_response": True,
                },
            },
            "output": {"format": dict(pcm), "voice": "alloy", "speed": 1.0},
        },
    }


def _bad(message: str, param: str, event_id: str | None, code: str = "invalid_value") -> ClientEventError:
    return ClientEventError(message, code, event_id, param)


def check_modalities(value: Any, param: str, event_id: str | None) -> None:
    if not isinstance(value, list) or len(value) != 1 or value[0] not in ("text", "audio"):
        raise _bad(f'\'{param}\' must be ["audio"] or ["text"].', param, event_id)


def check_format(value: Any, param: str, event_id: str | None) -> None:
    if not isinstance(value, dict) or value.get("type") not in _FORMATS:
        raise _bad(f"'{param}.type' must be one of {', '.join(_FORMATS)}.", param, event_id)
    if value["type"] == "audio/pcm" and value.get("rate", 24000) != 24000:
        raise _bad("Only a rate of 24000 is supported for audio/pcm.", f"{param}.rate", event_id)


def check_tools(tools: Any, param: str, event_id: str | None) -> None:
    if not isinstance(tools, list):
        raise _bad(f"'{param}' must be an array.", param, event_id, "invalid_type")
    for n, tool in enumerate(tools):
        kind = tool.get("type", "function") if isinstance(tool, dict) else None
        if kind == "function":
            if not isinstance(tool.get("name"), str) or not _TOOL_NAME.match(tool["name"]):
                raise _bad(
                    f"Invalid '{param}[{n}].name': must match ^[a-zA-Z0-9_-]{{1,64}}$.",
                    f"{param}[{n}].name",
                    event_id,
                )
        elif kind == "mcp":
            if not isinstance(tool.get("server_label"), str):
                raise _bad("An mcp tool needs a 'server_label'.", f"{param}[{n}].server_label", event_id)
        else:
            raise _bad(
                f"Invalid '{param}[{n}].type': expected 'function' or 'mcp'.", f"{param}[{n}].type", event_id
            )


def merge_session(
    current: Session, update: dict[str, Any], event_id: str | None, *, voice_locked: bool
) -> Session:
    """`current` with `update` applied (audio merged per field); raises `ClientEventError`."""
    if update.get("type") != "realtime":
        if "type" not in update:
            raise _bad(
                "Missing required parameter: 'session.type'.",
                "session.type",
                event_id,
                "missing_required_parameter",
            )
        raise _bad(
            "Invalid 'session.type': the simulator runs 'realtime' sessions.", "session.type", event_id
        )
    if "output_modalities" in update:
        check_modalities(update["output_modalities"], "session.output_modalities", event_id)
    if "tools" in update:
        check_tools(update["tools"], "session.tools", event_id)
    audio = update.get("audio") or {}
    if not isinstance(audio, dict):
        raise _bad("'session.audio' must be an object.", "session.audio", event_id, "invalid_type")
    a_in, a_out = audio.get("input") or {}, audio.get("output") or {}
    for side, name in ((a_in, "input"), (a_out, "output")):
        if not isinstance(side, dict):
            raise _bad(
                f"'session.audio.{name}' must be an object.",
                f"session.audio.{name}",
                event_id,
                "invalid_type",
            )
        if "format" in side:
            check_format(side["format"], f"session.audio.{name}.format", event_id)
    td = a_in.get("turn_detection", {})
    if (
        td is not None
        and "turn_detection" in a_in
        and (not isinstance(td, dict) or td.get("type") not in _TURN_TYPES)
    ):
        raise _bad(
            "'turn_detection.type' must be server_vad or semantic_vad (or null).",
            "session.audio.input.turn_detection",
            event_id,
        )
    new = copy.deepcopy(current)
    if "voice" in a_out and voice_locked and a_out["voice"] != new["audio"]["output"].get("voice"):
        raise _bad(
            "Cannot update a conversation's voice if assistant audio is present.",
            "session.audio.output.voice",
            event_id,
            "cannot_update_voice",
        )
    for key, value in update.items():
        if key not in ("audio", "type", "object", "id", "model"):
            new[key] = copy.deepcopy(value)
    for side, name in ((a_in, "input"), (a_out, "output")):
        for key, value in side.items():
            if key == "turn_detection" and isinstance(value, dict):
                base = new["audio"][name].get("turn_detection") or {}
                value = {**base, **value} if base.get("type") == value.get("type") else value
            new["audio"][name][key] = copy.deepcopy(value)
    return new


def turn_detection(session: Session) -> dict[str, Any] | None:
    return session["audio"]["input"].get("turn_detection")
