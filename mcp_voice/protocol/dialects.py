"""Beta <-> GA translation, so beta clients (`OpenAI-Beta: realtime=v1`) keep working.

The host speaks GA on both sides; the transport wraps a beta client's channel in
`BetaClientChannel`, which rewrites what the client sends into GA and what the host sends into
beta. Events with no beta equivalent (hosted-MCP events, `conversation.item.done`, WebRTC-only
buffer events) are dropped rather than confusing a beta client.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from mcp_voice.channels import Event, EventChannel

_FORMAT_TO_GA: dict[str, dict[str, Any]] = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}
_FORMAT_TO_BETA = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}

_CONTENT_TO_GA = {"text": "output_text", "audio": "output_audio"}
_CONTENT_TO_BETA = {"output_text": "text", "output_audio": "audio"}

_EVENT_TO_BETA = {
    "response.output_text.delta": "response.text.delta",
    "response.output_text.done": "response.text.done",
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
    "conversation.item.added": "conversation.item.created",
}
_GA_ONLY_EVENTS = frozenset(
    {
        "conversation.item.done",
        "mcp_list_tools.in_progress",
        "mcp_list_tools.completed",
        "mcp_list_tools.failed",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
        "response.mcp_call.in_progress",
        "response.mcp_call.completed",
        "response.mcp_call.failed",
        "output_audio_buffer.started",
        "output_audio_buffer.stopped",
        "output_audio_buffer.cleared",
        "input_audio_buffer.timeout_triggered",
        "input_audio_buffer.dtmf_event_received",
        "conversation.item.input_audio_transcription.segment",
    }
)
_BETA_ITEM_TYPES = frozenset({"message", "function_call", "function_call_output", "mcp_approval_request"})
"""Item types a beta client gets. Beta has no hosted-MCP items; an approval request goes through
all the same, since without it a beta client could never approve a destructive tool."""
_ITEM_EVENTS = frozenset(
    {
        "conversation.item.added",
        "conversation.item.retrieved",
        "response.output_item.added",
        "response.output_item.done",
    }
)
_DROP = object()


def dialect_from_headers(headers: Mapping[str, str]) -> Literal["ga", "beta"]:
    """`beta` when the client sent `OpenAI-Beta: realtime=v1` (header names case-insensitive)."""
    for name, value in headers.items():
        if name.lower() == "openai-beta" and any(
            part.strip().lower() == "realtime=v1" for part in str(value).split(",")
        ):
            return "beta"
    return "ga"


# --- beta -> GA (client events) -------------------------------------------------------------


def _modalities_to_ga(modalities: Any) -> Any:
    if isinstance(modalities, list):
        return ["audio"] if "audio" in modalities else ["text"] if "text" in modalities else modalities
    return modalities


def _format_to_ga(fmt: Any) -> Any:
    return dict(_FORMAT_TO_GA[fmt]) if isinstance(fmt, str) and fmt in _FORMAT_TO_GA else fmt


def _config_to_ga(cfg: dict[str, Any], *, is_session: bool) -> dict[str, Any]:
    """Session or response.create fields, beta names to GA names; GA names pass unchanged."""
    out = dict(cfg)
    audio: dict[str, Any] = dict(out.pop("audio", None) or {})
    a_in: dict[str, Any] = dict(audio.get("input") or {})
    a_out: dict[str, Any] = dict(audio.get("output") or {})
    if "modalities" in out:
        out["output_modalities"] = _modalities_to_ga(out.pop("modalities"))
    if "max_response_output_tokens" in out:
        out["max_output_tokens"] = out.pop("max_response_output_tokens")
    out.pop("temperature", None)  # GA has no temperature
    out.pop("client_secret", None)
    if "output_audio_format" in out:
        a_out["format"] = _format_to_ga(out.pop("output_audio_format"))
    if "voice" in out:
        a_out["voice"] = out.pop("voice")
    if is_session:
        if "speed" in out:
            a_out["speed"] = out.pop("speed")
        if "input_audio_format" in out:
            a_in["format"] = _format_to_ga(out.pop("input_audio_format"))
        if "input_audio_transcription" in out:
            a_in["transcription"] = out.pop("input_audio_transcription")
        if "input_audio_noise_reduction" in out:
            a_in["noise_reduction"] = out.pop("input_audio_noise_reduction")
        if "turn_detection" in out:
            td = out.pop("turn_detection")
            a_in["turn_detection"] = None if isinstance(td, dict) and td.get("type") == "none" else td
        out.setdefault("type", "realtime")
        out.pop("id", None)
        out.pop("object", None)
    if a_in:
        audio["input"] = a_in
    if a_out:
        audio["output"] = a_out
    if audio:
        out["audio"] = audio
    if isinstance(out.get("input"), list):
        out["input"] = [_item_to_ga(i) for i in out["input"]]
    return out


def _item_to_ga(item: Any) -> Any:
    if (
        not isinstance(item, dict)
        or item.get("role") != "assistant"
        or not isinstance(item.get("content"), list)
    ):
        return item
    return _with_content_types(item, _CONTENT_TO_GA)


def _with_content_types(item: Event, types: Mapping[str, str]) -> Event:
    """A copy of `item` with its content parts' types renamed through `types`."""
    content = [
        {**c, "type": types[c["type"]]} if isinstance(c, dict) and c.get("type") in types else c
        for c in item["content"]
    ]
    return {**item, "content": content}


def client_event_to_ga(ev: Event) -> Event:
    """A beta client event as GA (a copy when anything changes; the input is left alone)."""
    kind = ev.get("type")
    if kind == "session.update" and isinstance(ev.get("session"), dict):
        return {**ev, "session": _config_to_ga(ev["session"], is_session=True)}
    if kind == "response.create" and isinstance(ev.get("response"), dict):
        return {**ev, "response": _config_to_ga(ev["response"], is_session=False)}
    if kind == "conversation.item.create" and isinstance(ev.get("item"), dict):
        return {**ev, "item": _item_to_ga(ev["item"])}
    return ev


# --- GA -> beta (server events) -------------------------------------------------------------


def _modalities_to_beta(modalities: Any) -> Any:
    if isinstance(modalities, list) and "audio" in modalities:
        return ["text", "audio"]
    return modalities


def _format_to_beta(fmt: Any) -> Any:
    if isinstance(fmt, dict):
        return _FORMAT_TO_BETA.get(fmt.get("type", ""), fmt)
    return fmt


def session_to_beta(session: dict[str, Any]) -> dict[str, Any]:
    """A GA session object in beta field names (GA-only fields and hosted-MCP tools dropped)."""
    out = dict(session)
    for key in ("type", "include", "truncation", "prompt", "output_modalities", "audio"):
        out.pop(key, None)
    audio = session.get("audio") or {}
    a_in = audio.get("input") or {}
    a_out = audio.get("output") or {}
    if "output_modalities" in session:
        out["modalities"] = _modalities_to_beta(session["output_modalities"])
    if "max_output_tokens" in out:
        out["max_response_output_tokens"] = out.pop("max_output_tokens")
    if "format" in a_in:
        out["input_audio_format"] = _format_to_beta(a_in["format"])
    if "transcription" in a_in:
        out["input_audio_transcription"] = a_in["transcription"]
    if "noise_reduction" in a_in:
        out["input_audio_noise_reduction"] = a_in["noise_reduction"]
    if "turn_detection" in a_in:
        out["turn_detection"] = a_in["turn_detection"]
    if "format" in a_out:
        out["output_audio_format"] = _format_to_beta(a_out["format"])
    if "voice" in a_out:
        out["voice"] = a_out["voice"]
    if "speed" in a_out:
        out["speed"] = a_out["speed"]
    if isinstance(out.get("tools"), list):
        out["tools"] = [t for t in out["tools"] if not (isinstance(t, dict) and t.get("type") == "mcp")]
    return out


def _response_to_beta(resp: dict[str, Any]) -> dict[str, Any]:
    out = dict(resp)
    if "output_modalities" in out:
        out["modalities"] = _modalities_to_beta(out.pop("output_modalities"))
    audio_out = (out.pop("audio", None) or {}).get("output") or {}
    if "format" in audio_out:
        out["output_audio_format"] = _format_to_beta(audio_out["format"])
    if "voice" in audio_out:
        out["voice"] = audio_out["voice"]
    if isinstance(out.get("output"), list):
        out["output"] = [b for b in map(_item_to_beta, out["output"]) if b is not _DROP]
    return out


def _item_to_beta(item: Any) -> Any:
    """An item in beta shape, or `_DROP` for hosted-MCP display items beta does not know."""
    if not isinstance(item, dict):
        return item
    if item.get("type") not in _BETA_ITEM_TYPES:
        return _DROP
    if not isinstance(item.get("content"), list):
        return item
    return _with_content_types(item, _CONTENT_TO_BETA)


def server_event_to_beta(ev: Event) -> Event | None:
    """A GA server event as beta, or None when beta has no such event (drop it)."""
    kind = ev.get("type")
    if kind in _GA_ONLY_EVENTS:
        return None
    out = ev
    if kind in _EVENT_TO_BETA:
        out = {**ev, "type": _EVENT_TO_BETA[kind]}
    if kind in _ITEM_EVENTS and "item" in ev:
        item = _item_to_beta(ev["item"])
        if item is _DROP:
            return None
        out = {**out, "item": item}
        if kind == "conversation.item.added":
            out.setdefault("previous_item_id", None)
    elif kind in ("session.created", "session.updated") and isinstance(ev.get("session"), dict):
        out = {**ev, "session": session_to_beta(ev["session"])}
    elif kind in ("response.created", "response.done") and isinstance(ev.get("response"), dict):
        out = {**ev, "response": _response_to_beta(ev["response"])}
    elif kind in ("response.content_part.added", "response.content_part.done") and isinstance(
        ev.get("part"), dict
    ):
        part = ev["part"]
        if part.get("type") in _CONTENT_TO_BETA:
            out = {**ev, "part": {**part, "type": _CONTENT_TO_BETA[part["type"]]}}
    return out


class BetaClientChannel:
    """An `EventChannel` to a beta client, seen by the host as a GA client.

    Tracks the last conversation item so `conversation.item.created` carries `previous_item_id`
    (GA's `conversation.item.added` often omits it).
    """

    def __init__(self, inner: EventChannel) -> None:
        self.inner = inner
        self._last_item_id: str | None = None

    async def receive(self) -> Event | str:
        raw = await self.inner.receive()
        if isinstance(raw, str):
            try:
                parsed = json.loads(raw)
            except (ValueError, RecursionError):
                return raw  # the host answers it with an `error` event
            if not isinstance(parsed, dict):
                return raw
            raw = parsed
        try:
            return client_event_to_ga(raw)
        except Exception:  # a shape beta never had: left for the host's validation to refuse
            return raw

    async def send(self, event: Event | str) -> None:
        if isinstance(event, str):
            await self.inner.send(event)
            return
        out = server_event_to_beta(event)
        if out is None:
            return
        if out.get("type") == "conversation.item.created":
            if out.get("previous_item_id") is None and self._last_item_id is not None:
                out = {**out, "previous_item_id": self._last_item_id}
            item_id = (out.get("item") or {}).get("id")
            if item_id:
                self._last_item_id = item_id
        elif out.get("type") == "conversation.item.deleted" and out.get("item_id") == self._last_item_id:
            self._last_item_id = None
        await self.inner.send(out)

    async def aclose(self) -> None:
        await self.inner.aclose()
