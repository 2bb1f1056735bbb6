"""One simulator session: a WebSocket connection, its session config, conversation and audio.

Client events are handled one at a time, in order, by the receive loop; responses stream from
their own tasks. `response.created` and `response.done` are sent under one lock together with
the active-response bookkeeping, so a client that waits for `response.done` before its next
`response.create` is never refused.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from mcp_voice.protocol.events import ClientEventError, error_event, new_event_id, parse_client_event
from mcp_voice.sim.audio import AudioFormat, decode
from mcp_voice.sim.brain import thought, vocabulary
from mcp_voice.sim.config import SimConfig
from mcp_voice.sim.conversation import Conversation, normalize_item, without_audio
from mcp_voice.sim.llm import LlmError
from mcp_voice.sim.policy import Call, Reply, decide
from mcp_voice.sim.responses import Response, ResponseSpec, Thought
from mcp_voice.sim.session_config import (
    check_format,
    check_modalities,
    check_tools,
    default_session,
    merge_session,
    turn_detection,
)
from mcp_voice.sim.side_events import (
    IdleTimer,
    RateLimits,
    idle_timeout_s,
    transcription_events,
    transcription_on,
)
from mcp_voice.sim.vad import InputAudioBuffer

Event = dict[str, Any]
log = logging.getLogger("mcp_voice.sim")
MIN_COMMIT_MS = 100

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class SimConnection:
    """The state and event handlers of one simulated Realtime session."""

    def __init__(self, ws: ServerConnection, config: SimConfig, model: str) -> None:
        self.ws = ws
        self.config = config
        self.session = default_session(model, config.instructions)
        self.conversation = Conversation()
        self.buffer = InputAudioBuffer(self._input_format(), turn_detection(self.session))
        self.active: Response | None = None
        self.out_of_band: list[Response] = []
        self.voice_locked = False
        self._turn = anyio.Lock()
        self._tg: TaskGroup | None = None
        self.rate_limits = RateLimits()
        self.idle = IdleTimer(self._idle_timeout)
        self._handlers: dict[str, Callable[[Event], Awaitable[None]]] = {
            "session.update": self._session_update,
            "input_audio_buffer.append": self._append,
            "input_audio_buffer.commit": self._commit,
            "input_audio_buffer.clear": self._clear,
            "conversation.item.create": self._item_create,
            "conversation.item.retrieve": self._item_retrieve,
            "conversation.item.delete": self._item_delete,
            "conversation.item.truncate": self._item_truncate,
            "response.create": self._response_create,
            "response.cancel": self._response_cancel,
            "output_audio_buffer.clear": self._output_audio_clear,
        }

    async def send(self, event: Event) -> None:
        await self.ws.send(_dumps(event))

    async def run(self) -> None:
        """Serve the connection until the client goes."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            try:
                await self.send(
                    {"type": "session.created", "event_id": new_event_id(), "session": self.session}
                )
                async for message in self.ws:
                    await self.handle(message)
            except ConnectionClosed:
                pass
            finally:
                tg.cancel_scope.cancel()

    async def handle(self, message: str | bytes) -> None:
        try:
            event = parse_client_event(message)
            await self._handlers[event["type"]](event)
        except ClientEventError as exc:
            await self.send(exc.to_event())
        except ConnectionClosed:
            raise
        except Exception as exc:  # a simulator bug must not end the session: report it like OpenAI would
            log.exception("simulator failed on a client event")
            await self.send(
                error_event(f"The simulator failed: {exc!r}", code="server_error", type="server_error")
            )

    # -- session and input audio ----------------------------------------------------------------

    def _input_format(self) -> AudioFormat:
        return AudioFormat.from_session(self.session["audio"]["input"].get("format"))

    async def _session_update(self, ev: Event) -> None:
        self.session = merge_session(
            self.session, ev["session"], ev.get("event_id"), voice_locked=self.voice_locked
        )
        self.buffer.configure(self._input_format(), turn_detection(self.session))
        await self.send({"type": "session.updated", "event_id": new_event_id(), "session": self.session})

    async def _append(self, ev: Event) -> None:
        try:
            data = base64.b64decode(ev["audio"], validate=True)
        except (binascii.Error, ValueError):
            raise ClientEventError(
                "Invalid base64 audio.", "invalid_value", ev.get("event_id"), "audio"
            ) from None
        td = turn_detection(self.session) or {}
        for vad in self.buffer.append(data):
            if vad.kind == "started":
                self.idle.disarm()
                await self._emit(
                    "input_audio_buffer.speech_started", audio_start_ms=vad.ms, item_id=vad.item_id
                )
                if td.get("interrupt_response", True) and self.active is not None:
                    await self._cancel(self.active, "turn_detected")
                continue
            await self._emit("input_audio_buffer.speech_stopped", audio_end_ms=vad.ms, item_id=vad.item_id)
            await self._add_user_audio(vad.audio, vad.item_id)
            if td.get("create_response", True):
                await self._start_response({}, ev.get("event_id"), quiet=True)

    async def _commit(self, ev: Event) -> None:
        if self.buffer.ms < MIN_COMMIT_MS:
            raise ClientEventError(
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"{MIN_COMMIT_MS}ms of audio, but buffer only has {self.buffer.ms:.2f}ms of audio.",
                "input_audio_buffer_commit_empty",
                ev.get("event_id"),
            )
        audio, item_id = self.buffer.commit()
        await self._add_user_audio(audio, item_id)

    async def _clear(self, ev: Event) -> None:
        self.buffer.clear()
        await self._emit("input_audio_buffer.cleared")

    async def _add_user_audio(self, audio: bytes, item_id: str) -> None:
        before = self.conversation.last_id
        await self._emit("input_audio_buffer.committed", item_id=item_id, previous_item_id=before)
        content: dict[str, Any] = {"type": "input_audio", "transcript": None}
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [content],
        }
        self.conversation.add(item)
        self.conversation.audio[item_id] = audio
        self.conversation.audio_ms[item_id] = len(audio) // self._input_format().bytes_per_ms
        await self._emit("conversation.item.added", previous_item_id=before, item=item)
        await self._emit("conversation.item.done", previous_item_id=before, item=item)
        recognizer = self.config.speech.recognizer if self.config.speech else None
        transcript = self.config.transcript
        if recognizer is not None and len(audio) >= MIN_COMMIT_MS * self._input_format().bytes_per_ms:
            fmt = self._input_format()
            transcript = await anyio.to_thread.run_sync(
                recognizer.transcribe, decode(audio, fmt), fmt.rate, vocabulary(self.session)
            )
            self.conversation.heard[item_id] = transcript  # the policy and the brain answer it
        if transcription_on(self.session):
            content["transcript"] = transcript  # retrieve shows it from now on
            for event in transcription_events(item_id, transcript, self.conversation.audio_ms[item_id]):
                await self.send(event)

    async def _idle_timeout(self) -> None:
        """`idle_timeout_ms` passed in silence: say so, and answer the silence as a turn."""
        start = self.buffer.position_ms - self.buffer.ms
        audio, item_id = self.buffer.commit()
        await self._emit(
            "input_audio_buffer.timeout_triggered",
            audio_start_ms=int(start),
            audio_end_ms=int(self.buffer.position_ms),
            item_id=item_id,
        )
        await self._add_user_audio(audio, item_id)
        await self._start_response({}, None, quiet=True)

    async def _output_audio_clear(self, ev: Event) -> None:
        raise ClientEventError(
            "output_audio_buffer.clear is only supported for WebRTC and SIP sessions.",
            "invalid_value",
            ev.get("event_id"),
            "type",
        )

    # -- conversation ---------------------------------------------------------------------------

    async def _item_create(self, ev: Event) -> None:
        event_id = ev.get("event_id")
        item, audio = normalize_item(ev["item"], self.conversation, event_id)
        try:
            before = self.conversation.add(item, ev.get("previous_item_id"))
        except KeyError:
            raise ClientEventError(
                f"Previous item with id '{ev['previous_item_id']}' not found.",
                "invalid_value",
                event_id,
                "previous_item_id",
            ) from None
        if audio:
            self.conversation.audio[item["id"]] = audio
            self.conversation.audio_ms[item["id"]] = len(audio) // self._input_format().bytes_per_ms
        shown = without_audio(item)
        await self._emit("conversation.item.added", previous_item_id=before, item=shown)
        await self._emit("conversation.item.done", previous_item_id=before, item=shown)

    def _item(self, ev: Event) -> dict[str, Any]:
        item = self.conversation.get(ev["item_id"])
        if item is None:
            raise ClientEventError(
                f"Item with item_id '{ev['item_id']}' not found.",
                "item_not_found",
                ev.get("event_id"),
                "item_id",
            )
        return item

    async def _item_retrieve(self, ev: Event) -> None:
        item = self._item(ev)
        audio = self.conversation.audio.get(item["id"])
        if audio is not None and item.get("role") == "user":
            encoded = base64.b64encode(audio).decode()
            content = [
                {**c, "audio": encoded} if c.get("type") == "input_audio" else c for c in item["content"]
            ]
            item = {**item, "content": content}
        await self._emit("conversation.item.retrieved", item=item)

    async def _item_delete(self, ev: Event) -> None:
        self._item(ev)
        self.conversation.delete(ev["item_id"])
        await self._emit("conversation.item.deleted", item_id=ev["item_id"])

    async def _item_truncate(self, ev: Event) -> None:
        item, event_id, index = self._item(ev), ev.get("event_id"), ev["content_index"]
        content = item.get("content") or []
        if (
            item.get("role") != "assistant"
            or index >= len(content)
            or content[index].get("type") != "output_audio"
        ):
            raise ClientEventError(
                "Only assistant audio content can be truncated.", "invalid_value", event_id, "content_index"
            )
        have = self.conversation.audio_ms.get(item["id"], 0)
        if ev["audio_end_ms"] > have:
            raise ClientEventError(
                f"Audio content of {have}ms is already shorter than {ev['audio_end_ms']}ms",
                "invalid_value",
                event_id,
                "audio_end_ms",
            )
        self.conversation.audio_ms[item["id"]] = ev["audio_end_ms"]
        said = str(content[index].get("transcript") or "")
        self.conversation.heard[item["id"]] = said[
            : self.conversation.heard_chars(item["id"], ev["audio_end_ms"])
        ]
        content = [*content]
        content[index] = {**content[index], "transcript": ""}  # as the real server: unheard text goes
        self.conversation.replace({**item, "content": content})
        await self._emit(
            "conversation.item.truncated",
            item_id=item["id"],
            content_index=index,
            audio_end_ms=ev["audio_end_ms"],
        )

    # -- responses ------------------------------------------------------------------------------

    async def _response_create(self, ev: Event) -> None:
        await self._start_response(ev.get("response") or {}, ev.get("event_id"))

    async def _start_response(
        self, params: dict[str, Any], event_id: str | None, *, quiet: bool = False
    ) -> None:
        """Start a response, unless one is active in the conversation (an error, or nothing if `quiet`)."""
        in_conversation = params.get("conversation", "auto") != "none"
        spec = self._spec(params, event_id, in_conversation)
        async with self._turn:
            if in_conversation and self.active is not None:
                if quiet:
                    return
                raise ClientEventError(
                    f"Conversation already has an active response in progress: {self.active.id}. "
                    "Wait until the response is finished before creating a new one.",
                    "conversation_already_has_active_response",
                    event_id,
                )
            response = Response(spec, self.config, self.send, self.conversation)
            if in_conversation:
                self.idle.disarm()
                self.active = response
            else:
                self.out_of_band.append(response)
            if spec.modality == "audio" and not isinstance(spec.plan, Call):
                self.voice_locked = True
            await self.send(response.created_event())
        assert self._tg is not None
        self._tg.start_soon(self._run, response)

    def _spec(self, params: dict[str, Any], event_id: str | None, in_conversation: bool) -> ResponseSpec:
        if "output_modalities" in params:
            check_modalities(params["output_modalities"], "response.output_modalities", event_id)
        if "tools" in params:
            check_tools(params["tools"], "response.tools", event_id)
        audio_out = {**self.session["audio"]["output"], **((params.get("audio") or {}).get("output") or {})}
        if "format" in audio_out:
            check_format(audio_out["format"], "response.audio.output.format", event_id)
        items = self._input_items(params.get("input"), event_id)
        plan: Reply | Call | Thought
        if self.config.llm is not None:
            plan = thought(self.config.llm, self.session, params, items, self.conversation.heard)
        else:
            plan = decide(
                items,
                params["tools"] if "tools" in params else self.session.get("tools") or [],
                params.get("tool_choice", self.session.get("tool_choice", "auto")),
                self.conversation.audio_ms,
                self.conversation.heard,
            )
        text_chars = sum(len(json.dumps(i.get("content") or i.get("output") or "")) for i in items)
        return ResponseSpec(
            plan=plan,
            in_conversation=in_conversation,
            modality=(params.get("output_modalities") or self.session["output_modalities"])[0],
            audio_format=audio_out.get("format") or {"type": "audio/pcm", "rate": 24000},
            voice=audio_out.get("voice", "alloy"),
            metadata=params.get("metadata"),
            max_output_tokens=params.get("max_output_tokens", self.session.get("max_output_tokens", "inf")),
            input_tokens=text_chars // 4,
            input_audio_ms=sum(self.conversation.audio_ms.get(str(i.get("id")), 0) for i in items),
        )

    def _input_items(self, given: Any, event_id: str | None) -> list[dict[str, Any]]:
        """The items a response answers: its own `input` (references resolved) or the conversation."""
        if not isinstance(given, list):
            return self.conversation.items()
        items = []
        for n, item in enumerate(given):
            if isinstance(item, dict) and item.get("type") == "item_reference":
                item = self.conversation.get(str(item.get("id")))
            content = item.get("content", []) if isinstance(item, dict) else None
            if not isinstance(content, list) or not all(isinstance(c, dict) for c in content):
                raise ClientEventError(
                    "Each input item must be an object (or a reference to a conversation item) "
                    "whose content is a list of objects.",
                    "invalid_value",
                    event_id,
                    f"response.input[{n}]",
                )
            items.append(item)
        return items

    async def _run(self, response: Response) -> None:
        try:
            await response.run()
            async with self._turn:
                done = response.done_event()
                await self.send(done)
                self._release(response)
                await self.send(self.rate_limits.after(done))
                self._arm_idle(response)
        except ConnectionClosed:
            pass
        except Exception as exc:  # the model or a simulator bug ends this response, not the session
            if isinstance(exc, LlmError):
                log.warning("%s", exc)
                message = str(exc)
            else:
                log.exception("simulator failed while responding")
                message = f"The simulator failed: {exc!r}"
            response.fail(message)
            try:
                async with self._turn:
                    await self.send(error_event(message, code="server_error", type="server_error"))
                    await self.send(response.done_event())
            except ConnectionClosed:
                pass
        finally:
            self._release(response)
            response.finished.set()

    def _arm_idle(self, response: Response) -> None:
        seconds = idle_timeout_s(turn_detection(self.session), self.config.speed)
        if seconds is not None and response.spec.in_conversation and self.active is None and self._tg:
            self.idle.arm(self._tg, seconds)

    def _release(self, response: Response) -> None:
        if self.active is response:
            self.active = None
        if response in self.out_of_band:
            self.out_of_band.remove(response)

    async def _response_cancel(self, ev: Event) -> None:
        wanted = ev.get("response_id")
        running = [r for r in (self.active, *self.out_of_band) if r is not None]
        target = (
            next((r for r in running if r.id == wanted), None)
            if wanted
            else (running[0] if running else None)
        )
        if target is None:
            raise ClientEventError(
                "Cancellation failed: no active response found.",
                "response_cancel_not_active",
                ev.get("event_id"),
            )
        await self._cancel(target, "client_cancelled")

    async def _cancel(self, response: Response, reason: str) -> None:
        """Cancel and wait until its `response.done` has gone out."""
        response.cancel(reason)
        await response.finished.wait()

    async def _emit(self, kind: str, **fields: Any) -> None:
        await self.send({"type": kind, "event_id": new_event_id(), **fields})
