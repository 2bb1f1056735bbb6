"""One simulated response: its output items and the GA event sequence that streams them.

A response plays a `policy` decision: a `Reply` becomes an assistant message (audio with a
transcript, or text), streamed in chunks paced by `SimConfig.speed`; a `Call` becomes a
`function_call` item. Cancelling stops the stream at the next chunk and closes the open item
as `incomplete`; the owner then sends `response.done` (see `SimConnection`).
"""

from __future__ import annotations

import base64
import math
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread

from mcp_voice.protocol.events import new_call_id, new_event_id, new_item_id, new_response_id
from mcp_voice.sim.audio import AudioFormat, tone
from mcp_voice.sim.config import SimConfig
from mcp_voice.sim.conversation import Conversation
from mcp_voice.sim.policy import Call, Reply
from mcp_voice.sim.speaking import each, phrases, speech_chunks
from mcp_voice.sim.speech import Synthesizer

Emit = Callable[[dict[str, Any]], Awaitable[None]]
Thought = Callable[[], AsyncGenerator[str | Call, None]]
"""A model's answer as it streams (the `local` brain): text deltas, then tool calls."""


@dataclass
class ResponseSpec:
    """A `response.create` resolved against the session: everything the response needs."""

    plan: Reply | Call | Thought
    in_conversation: bool = True
    modality: str = "audio"
    audio_format: dict[str, Any] = field(default_factory=lambda: {"type": "audio/pcm", "rate": 24000})
    voice: Any = "alloy"
    metadata: dict[str, Any] | None = None
    max_output_tokens: Any = "inf"
    """As the client gave it (echoed back); only an int limits the reply."""
    input_tokens: int = 0
    input_audio_ms: int = 0


class Response:
    """A response from `response.created` to the moment before `response.done`."""

    def __init__(self, spec: ResponseSpec, config: SimConfig, emit: Emit, conversation: Conversation) -> None:
        self.id = new_response_id()
        self.spec = spec
        self.config = config
        self.emit = emit
        self.conversation = conversation
        self.output: list[dict[str, Any]] = []
        self.status = "in_progress"
        self.reason: str | None = None
        self.finished = anyio.Event()
        self._cancelled = anyio.Event()
        self._text_chars = 0
        self._audio_ms = 0
        self._pull_scope: anyio.CancelScope | None = None
        self._error: Exception | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def cancel(self, reason: str) -> None:
        # "incomplete" (cut by max_output_tokens) is still streaming: it must stop too, or the
        # caller (the receive loop, waiting for `finished`) is blocked until the reply ends.
        if self.status in ("in_progress", "incomplete") and not self._cancelled.is_set():
            self.status, self.reason = "cancelled", reason
            self._cancelled.set()
            if self._pull_scope is not None:  # stop waiting for the model at once
                self._pull_scope.cancel()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def fail(self, message: str) -> None:
        """The response broke off (a simulator bug): `response.done` says "failed" and why."""
        self.status, self.reason = "failed", message

    def _summary(self) -> dict[str, Any]:
        details: dict[str, Any] | None = None
        if self.status in ("cancelled", "incomplete"):
            details = {"type": self.status, "reason": self.reason}
        elif self.status == "failed":
            details = {"type": "failed", "error": {"type": "server_error", "code": "server_error"}}
        return {
            "object": "realtime.response",
            "id": self.id,
            "status": self.status,
            "status_details": details,
            "output": list(self.output),
            "conversation_id": "conv_default" if self.spec.in_conversation else None,
            "output_modalities": [self.spec.modality],
            "max_output_tokens": self.spec.max_output_tokens,
            "audio": {"output": {"format": self.spec.audio_format, "voice": self.spec.voice}},
            "metadata": self.spec.metadata,
            "usage": None,
        }

    def created_event(self) -> dict[str, Any]:
        return {"type": "response.created", "event_id": new_event_id(), "response": self._summary()}

    def done_event(self) -> dict[str, Any]:
        if self.status == "in_progress":
            self.status = "completed"
        summary = self._summary()
        text_tokens = math.ceil(self._text_chars / 4)
        audio_tokens = math.ceil(self._audio_ms / 50)
        in_audio = math.ceil(self.spec.input_audio_ms / 100)
        in_text = self.spec.input_tokens
        summary["usage"] = {
            "total_tokens": in_text + in_audio + text_tokens + audio_tokens,
            "input_tokens": in_text + in_audio,
            "output_tokens": text_tokens + audio_tokens,
            "input_token_details": {"text_tokens": in_text, "audio_tokens": in_audio, "cached_tokens": 0},
            "output_token_details": {"text_tokens": text_tokens, "audio_tokens": audio_tokens},
        }
        return {"type": "response.done", "event_id": new_event_id(), "response": summary}

    async def _wait(self, seconds: float) -> None:
        """Pace output; returns early when cancelled. Always a checkpoint."""
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        with anyio.move_on_after(seconds):
            await self._cancelled.wait()

    # -- output ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Stream the output items (everything before `response.done`)."""
        await self._wait(0)
        if self.cancelled:
            return
        if isinstance(self.spec.plan, Call):
            await self._function_call(self.spec.plan)
        elif isinstance(self.spec.plan, Reply):
            await self._message(self._limit(self.spec.plan.text))
        else:
            await self._think(self.spec.plan)

    async def _pull(self, stream: AsyncIterator[str | Call]) -> str | Call | None:
        """The model's next piece; None at its end or once cancelled (the wait ends at once)."""
        if self.cancelled:
            return None
        with anyio.CancelScope() as scope:
            self._pull_scope = scope
            try:
                return await anext(stream)
            except StopAsyncIteration:
                return None
            finally:
                self._pull_scope = None
        return None

    async def _think(self, thought: Thought) -> None:
        """Stream the model's answer: its text as a message (spoken as it comes), then its calls."""
        stream = thought()
        calls: list[Call] = []
        try:
            first = await self._pull(stream)
            while isinstance(first, Call):
                calls.append(first)
                first = await self._pull(stream)

            async def text() -> AsyncIterator[str]:
                piece: str | Call | None = first
                while piece is not None:
                    if isinstance(piece, Call):
                        calls.append(piece)
                    elif piece:
                        yield piece
                    try:
                        piece = await self._pull(stream)
                    except Exception as exc:  # the item is closed first; run() then fails the response
                        self._error = exc
                        return

            if first is not None:
                await self._message(text())
            if self._error is not None:
                raise self._error
            for call in calls:
                if self.cancelled:
                    break
                await self._function_call(call)
        finally:
            await stream.aclose()  # closes the HTTP stream when cancelled early

    def _limit(self, text: str) -> str:
        limit = self.spec.max_output_tokens
        if isinstance(limit, int) and len(text) > limit * 4:
            self.status, self.reason = "incomplete", "max_output_tokens"
            return text[: limit * 4]
        return text

    async def _open_item(self, item: dict[str, Any]) -> int:
        index = len(self.output)
        self.output.append(item)
        await self._event("response.output_item.added", output_index=index, item=item)
        if self.spec.in_conversation:
            before = self.conversation.add(dict(item))
            await self.emit(
                {
                    "type": "conversation.item.added",
                    "event_id": new_event_id(),
                    "previous_item_id": before,
                    "item": item,
                }
            )
        return index

    async def _close_item(self, index: int, item: dict[str, Any]) -> None:
        item["status"] = "incomplete" if self.cancelled or self.status == "incomplete" else "completed"
        self.output[index] = item
        await self._event("response.output_item.done", output_index=index, item=item)
        if self.spec.in_conversation and item["id"] in self.conversation:
            self.conversation.replace(dict(item))
            await self.emit({"type": "conversation.item.done", "event_id": new_event_id(), "item": item})

    async def _event(self, kind: str, **fields: Any) -> None:
        await self.emit({"type": kind, "event_id": new_event_id(), "response_id": self.id, **fields})

    async def _function_call(self, call: Call) -> None:
        item_id, call_id = new_item_id(), new_call_id()
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": call.name,
            "call_id": call_id,
            "arguments": "",
        }
        index = await self._open_item(dict(item))
        args = call.arguments
        step = max(1, math.ceil(len(args) / 3))
        sent = ""
        for i in range(0, len(args), step):
            if self.cancelled:
                break
            sent += args[i : i + step]
            await self._event(
                "response.function_call_arguments.delta",
                item_id=item_id,
                output_index=index,
                call_id=call_id,
                delta=args[i : i + step],
            )
            await self._wait(0)
        self._text_chars += len(sent)
        await self._event(
            "response.function_call_arguments.done",
            item_id=item_id,
            output_index=index,
            call_id=call_id,
            name=call.name,
            arguments=sent,
        )
        await self._close_item(index, {**item, "arguments": sent})

    async def _message(self, text: str | AsyncIterator[str]) -> None:
        audio = self.spec.modality == "audio"
        item_id = new_item_id()
        item: dict[str, Any] = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        index = await self._open_item(dict(item))
        where = {"item_id": item_id, "output_index": index, "content_index": 0}
        part = {"type": "audio", "transcript": ""} if audio else {"type": "text", "text": ""}
        await self._event("response.content_part.added", **where, part=part)
        if isinstance(text, str):
            sent = await (self._stream_audio(text, where) if audio else self._stream_text(text, where))
        else:
            sent = await (self._speak_stream(text, where) if audio else self._pass_text(text, where))
        if audio:
            await self._event("response.output_audio.done", **where)
            await self._event("response.output_audio_transcript.done", **where, transcript=sent)
            part, content = (
                {"type": "audio", "transcript": sent},
                {"type": "output_audio", "transcript": sent},
            )
        else:
            await self._event("response.output_text.done", **where, text=sent)
            part, content = {"type": "text", "text": sent}, {"type": "output_text", "text": sent}
        await self._event("response.content_part.done", **where, part=part)
        await self._close_item(index, {**item, "content": [content]})

    def _duration_ms(self, text: str) -> int:
        cfg = self.config
        return max(cfg.min_audio_ms, min(cfg.max_audio_ms, len(text) * cfg.ms_per_char))

    async def _stream_audio(self, text: str, where: dict[str, Any]) -> str:
        """Audio deltas with the transcript spread over them; returns the transcript sent."""
        synthesizer = self.config.speech.synthesizer if self.config.speech else None
        if synthesizer is not None:
            return await self._stream_speech(synthesizer, [text], where)
        cfg, fmt = self.config, AudioFormat.from_session(self.spec.audio_format)
        total = self._duration_ms(text)
        chunk = tone(fmt, cfg.chunk_ms, cfg.tone_hz, cfg.tone_amplitude)
        chunks = math.ceil(total / cfg.chunk_ms)
        start = anyio.current_time()
        chars = 0
        for n in range(chunks):
            if self.cancelled:
                break
            ms = min(cfg.chunk_ms, total - n * cfg.chunk_ms)
            data = chunk if ms == cfg.chunk_ms else chunk[: ms * fmt.bytes_per_ms]
            await self._event("response.output_audio.delta", **where, delta=base64.b64encode(data).decode())
            upto = len(text) if n == chunks - 1 else text.rfind(" ", chars, len(text) * (n + 1) // chunks) + 1
            if upto > chars:
                await self._event("response.output_audio_transcript.delta", **where, delta=text[chars:upto])
                chars = upto
            self._audio_ms += ms
            if self.spec.in_conversation:
                self.conversation.audio_ms[where["item_id"]] = self._audio_ms
                self.conversation.mark_heard(where["item_id"], self._audio_ms, chars)
            await self._wait(start + self._audio_ms * cfg.speed / 1000 - anyio.current_time())
        self._text_chars += chars
        return text[:chars]

    async def _speak_stream(self, text: AsyncIterator[str], where: dict[str, Any]) -> str:
        """A streamed answer in audio: spoken phrase by phrase as it arrives (the tone: once whole)."""
        synthesizer = self.config.speech.synthesizer if self.config.speech else None
        if synthesizer is not None:
            return await self._stream_speech(synthesizer, phrases(text), where)
        whole = "".join([piece async for piece in text])
        return await self._stream_audio(whole, where)

    async def _pass_text(self, text: AsyncIterator[str], where: dict[str, Any]) -> str:
        """A streamed answer in text: each delta as the model sent it."""
        sent = ""
        async for delta in text:
            if self.cancelled:
                break
            await self._event("response.output_text.delta", **where, delta=delta)
            sent += delta
        self._text_chars += len(sent)
        return sent

    async def _stream_speech(
        self, synthesizer: Synthesizer, phrases: Iterable[str] | AsyncIterable[str], where: dict[str, Any]
    ) -> str:
        """Synthesized speech, phrase by phrase, in deltas at playback pace; each word's transcript
        goes out with the audio chunk it starts in. Returns the transcript sent."""
        cfg, fmt = self.config, AudioFormat.from_session(self.spec.audio_format)
        start = anyio.current_time()
        sent = ""
        async for phrase in each(phrases):
            if self.cancelled:
                break
            spoken = await anyio.to_thread.run_sync(synthesizer.synthesize, phrase)
            joiner = " " if sent and not sent.endswith(" ") and not phrase.startswith(" ") else ""
            for chunk in speech_chunks(spoken, phrase, fmt, cfg.chunk_ms, joiner):
                if self.cancelled:
                    break
                delta = base64.b64encode(chunk.audio).decode()
                await self._event("response.output_audio.delta", **where, delta=delta)
                if chunk.words:
                    await self._event("response.output_audio_transcript.delta", **where, delta=chunk.words)
                    sent += chunk.words
                self._audio_ms += chunk.ms
                if self.spec.in_conversation:
                    self.conversation.audio_ms[where["item_id"]] = self._audio_ms
                    self.conversation.mark_heard(where["item_id"], self._audio_ms, len(sent))
                await self._wait(start + self._audio_ms * cfg.speed / 1000 - anyio.current_time())
        self._text_chars += len(sent)
        return sent

    async def _stream_text(self, text: str, where: dict[str, Any]) -> str:
        """Text deltas a few words at a time, paced like a model's text; returns the text sent."""
        cfg = self.config
        words = text.split(" ")
        ms_per_char = min(cfg.text_ms_per_char, cfg.max_text_ms / max(1, len(text)))
        start = anyio.current_time()
        sent = ""
        for n in range(0, len(words), 3):
            if self.cancelled:
                break
            delta = (" " if sent else "") + " ".join(words[n : n + 3])
            await self._event("response.output_text.delta", **where, delta=delta)
            sent += delta
            await self._wait(start + len(sent) * ms_per_char * cfg.speed / 1000 - anyio.current_time())
        self._text_chars += len(sent)
        return sent
