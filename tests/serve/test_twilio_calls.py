"""A phone call at the wire: Twilio's media stream in, assistant media + marks out, barge-in.

The caller is `TwilioCaller` (Media Streams as Twilio speaks it); the model is either a scripted
upstream the test drives event by event, or the real simulator speaking `audio/pcmu`.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from conftest import serving
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from twilio_wire import (
    CALL_SID,
    PUBLIC_URL,
    STREAM_SID,
    RecordingOpener,
    ScriptedUpstream,
    TwilioCaller,
    call,
    scripted_upstream,
)

from mcp_voice.serve.settings import ServeSettings
from mcp_voice.serve.twilio.settings import TwilioSettings
from mcp_voice.session.context import META_CALL, CallContext
from mcp_voice.session.dtmf import DtmfAction
from mcp_voice.session.host import HostSettings
from mcp_voice.sim import SimConfig
from mcp_voice.tools.registry import ToolRegistry
from mcp_voice.tools.spec import ServerSpec

pytestmark = pytest.mark.anyio

CHUNK = 800
"""Bytes of assistant audio per delta in the scripted tests: 100 ms of μ-law."""


def settings(upstream: str = "sim", host: HostSettings | None = None) -> ServeSettings:
    return ServeSettings(
        upstream=upstream, host=host or HostSettings(), twilio=TwilioSettings(public_url=PUBLIC_URL)
    )


@asynccontextmanager
async def scripted_call(
    registry: Any, session: dict[str, Any] | None = None, **kw: Any
) -> AsyncIterator[tuple[TwilioCaller, ScriptedUpstream]]:
    """A started call whose upstream is scripted; yields once the bridge's pcmu session.update arrived."""
    async with (
        scripted_upstream(session) as upstream,
        serving(registry, settings(upstream.url, **kw)) as where,
    ):
        async with call(where) as caller:
            await caller.start({"From": "+15550100", "To": "+15550199", "lang": "de"})
            update = await upstream.expect("session.update")
            while "audio" not in update["session"]:  # the host's own tools update comes first
                update = await upstream.expect("session.update")
            assert update["session"]["audio"] == {
                "input": {"format": {"type": "audio/pcmu"}},
                "output": {"format": {"type": "audio/pcmu"}},
            }
            yield caller, upstream


async def test_caller_audio_goes_upstream_unchanged(registry: Any) -> None:
    async with scripted_call(registry) as (caller, upstream):
        frames = [bytes([n]) * 160 for n in range(1, 6)]
        for frame in frames:
            await caller.media(frame)
        for frame in frames:
            append = await upstream.expect("input_audio_buffer.append")
            assert base64.b64decode(append["audio"]) == frame  # μ-law as is: no resampling


async def test_assistant_audio_comes_back_as_media_with_the_stream_sid_and_a_mark_each(registry: Any) -> None:
    async with scripted_call(registry) as (caller, upstream):
        await upstream.send("response.created", response={"id": "resp_1", "status": "in_progress"})
        chunks = [bytes([0x10 + n]) * CHUNK for n in range(3)]
        for chunk in chunks:
            await upstream.audio("item_A", chunk)
        marks = []
        for chunk in chunks:
            audio, mark = await caller.media_and_mark()  # receive() checked the streamSid
            assert audio == chunk
            marks.append(mark)
        assert len(set(marks)) == 3


async def test_a_long_delta_is_played_in_marked_chunks_so_truncation_stays_close(registry: Any) -> None:
    async with scripted_call(registry) as (caller, upstream):
        await upstream.send("response.created", response={"id": "resp_1", "status": "in_progress"})
        second = bytes(range(256)) * 31 + bytes(64)  # 8000 bytes: one second of μ-law in one delta
        await upstream.audio("item_A", second)
        chunks = []
        while sum(len(audio) for audio, _ in chunks) < len(second):
            chunks.append(await caller.media_and_mark())
        assert b"".join(audio for audio, _ in chunks) == second  # cut, never altered
        assert all(len(audio) <= 800 for audio, _ in chunks)  # at most 100 ms between marks
        await caller.echo(chunks[2][1])
        await caller.silence(20)
        await upstream.appended()
        await upstream.send("input_audio_buffer.speech_started", audio_start_ms=0, item_id="item_user")
        truncate = await upstream.expect("conversation.item.truncate")
        assert truncate["audio_end_ms"] == sum(len(audio) for audio, _ in chunks[:3]) // 8


@pytest.mark.parametrize("stale_marks_return", [False, True], ids=["marks-dropped", "marks-echoed"])
async def test_barge_in_clears_and_truncates_to_the_acknowledged_audio(
    registry: Any, stale_marks_return: bool
) -> None:
    async with scripted_call(registry) as (caller, upstream):
        await upstream.send("response.created", response={"id": "resp_1", "status": "in_progress"})
        for n in range(5):
            await upstream.audio("item_A", bytes([n]) * CHUNK)
        marks = [(await caller.media_and_mark())[1] for _ in range(5)]
        for name in marks[:2]:  # the caller has heard 200 ms of the 500 ms queued
            await caller.echo(name)
        await caller.silence(20)
        await upstream.appended()  # the bridge has seen the echoes
        await upstream.send("input_audio_buffer.speech_started", audio_start_ms=1000, item_id="item_user")
        await caller.expect("clear")
        truncate = await upstream.expect("conversation.item.truncate")
        assert (truncate["item_id"], truncate["content_index"], truncate["audio_end_ms"]) == (
            "item_A",
            0,
            200,
        )

        # Twilio may or may not echo the marks the clear dropped: either way they change nothing.
        if stale_marks_return:
            for name in marks[2:]:
                await caller.echo(name)
        await upstream.audio("item_A", b"\x55" * CHUNK)  # was in flight: never played after the clear
        await upstream.send("response.done", response={"id": "resp_1", "status": "cancelled"})
        await upstream.send("response.created", response={"id": "resp_2", "status": "in_progress"})
        await upstream.audio("item_B", b"\x66" * CHUNK, "resp_2")
        await upstream.audio("item_B", b"\x67" * CHUNK, "resp_2")
        audio, first_b = await caller.media_and_mark()
        assert audio == b"\x66" * CHUNK  # item_A's late audio was dropped
        await caller.media_and_mark()
        await caller.echo(first_b)
        await caller.silence(20)
        await upstream.appended()
        await upstream.send("input_audio_buffer.speech_started", audio_start_ms=3000, item_id="item_user2")
        await caller.expect("clear")
        truncate = await upstream.expect("conversation.item.truncate")
        assert (truncate["item_id"], truncate["audio_end_ms"]) == ("item_B", 100)
        # the interrupt_response default: the server cancels; the bridge does not send its own cancel
        await caller.silence(20)
        await upstream.appended()
        sent = [e["type"] for e in upstream.received]
        assert "response.cancel" not in sent
        assert sent.count("conversation.item.truncate") == 2  # item_A is not truncated again


async def test_barge_in_before_any_mark_truncates_to_zero_and_cancels_without_interrupt_response(
    registry: Any,
) -> None:
    # The upstream's turn detection does not interrupt responses: the bridge learns it from the
    # session.updated that answers its own pcmu update (the only one a client is shown).
    detection = {"type": "server_vad", "interrupt_response": False}
    async with scripted_call(registry, {"audio": {"input": {"turn_detection": detection}}}) as (
        caller,
        upstream,
    ):
        await upstream.send("response.created", response={"id": "resp_1", "status": "in_progress"})
        await upstream.audio("item_A", b"\x01" * CHUNK)
        await caller.media_and_mark()
        await upstream.send("input_audio_buffer.speech_started", audio_start_ms=0, item_id="item_user")
        await caller.expect("clear")
        truncate = await upstream.expect("conversation.item.truncate")
        assert truncate["audio_end_ms"] == 0
        await upstream.expect("response.cancel")


async def test_no_clear_or_truncate_when_everything_was_heard(registry: Any) -> None:
    async with scripted_call(registry) as (caller, upstream):
        await upstream.send("response.created", response={"id": "resp_1", "status": "in_progress"})
        await upstream.audio("item_A", b"\x01" * CHUNK)
        _, mark = await caller.media_and_mark()
        await upstream.send("response.done", response={"id": "resp_1", "status": "completed"})
        await caller.echo(mark)
        await caller.silence(20)
        await upstream.appended()
        await upstream.send("input_audio_buffer.speech_started", audio_start_ms=0, item_id="item_user")
        await caller.dtmf("7")  # a later event on both sockets, to prove nothing came before it
        await upstream.expect("conversation.item.create")
        assert not [
            e for e in upstream.received if e["type"] in ("conversation.item.truncate", "response.cancel")
        ]
        assert caller.got.clears == 0


async def test_dtmf_reaches_the_conversation(registry: Any) -> None:
    async with scripted_call(registry) as (caller, upstream):
        await caller.dtmf("5")
        item = (await upstream.expect("conversation.item.create"))["item"]
        assert item["role"] == "user"
        assert item["content"] == [{"type": "input_text", "text": "The caller pressed 5."}]
        await upstream.expect("response.create")


async def test_a_greeting_starts_the_conversation_after_the_pcmu_update(registry: Any) -> None:
    twilio = TwilioSettings(public_url=PUBLIC_URL, greeting="Greet the caller.")
    async with scripted_upstream() as upstream:
        phone = ServeSettings(upstream=upstream.url, twilio=twilio)
        async with serving(registry, phone) as where, call(where) as caller:
            await caller.start()
            create = await upstream.expect("response.create")
            assert create["response"]["instructions"] == "Greet the caller."
            kinds = [e["type"] for e in upstream.received]
            updates = [e for e in upstream.received if e["type"] == "session.update"]
            assert any("audio" in e["session"] for e in updates)
            assert kinds.index("response.create") > max(
                i for i, k in enumerate(kinds) if k == "session.update"
            )


async def test_stop_ends_the_session_cleanly(registry: Any) -> None:
    async with scripted_upstream() as upstream, serving(registry, settings(upstream.url)) as where:
        async with call(where) as caller:
            await caller.start()
            await upstream.expect("session.update")
            await caller.stop()
            with anyio.fail_after(10):
                await caller.ws.wait_closed()
            assert caller.ws.close_code == 1000
        with anyio.fail_after(10):
            assert upstream.ws is not None
            await upstream.ws.wait_closed()


async def test_an_upstream_drop_mid_call_is_silence_not_a_hang_up(registry: Any) -> None:
    observer = Observer()
    async with (
        scripted_upstream() as upstream,
        serving(registry, settings(upstream.url), observer=observer) as where,
    ):
        async with call(where) as caller:
            await caller.start()
            await upstream.expect("session.update")
            await upstream.drop()
            async with anyio.create_task_group() as race:  # whichever comes first: a reconnect, or the end

                async def first(wait: Any) -> None:
                    await wait()
                    race.cancel_scope.cancel()

                race.start_soon(first, lambda: upstream.wait_connections(2))
                race.start_soon(first, observer.gone.wait)
            assert not observer.gone.is_set(), f"the call ended: {observer.ended}"
            await caller.media(b"\x01" * 160)  # the caller goes on talking on the new connection
            await upstream.expect("input_audio_buffer.append")
            assert caller.ws.close_code is None


# -- with the simulator speaking audio/pcmu ---------------------------------------------------


class Observer:
    def __init__(self) -> None:
        self.started: list[CallContext] = []
        self.ended: list[str] = []
        self.gone = anyio.Event()

    def session_started(self, context: CallContext) -> None:
        self.started.append(context)

    def session_ended(self, context: CallContext, reason: str) -> None:
        self.ended.append(reason)
        self.gone.set()


async def echo_until_heard(caller: TwilioCaller, nbytes: int) -> list[bytes]:
    """Receive media chunks until `nbytes` of audio came, echoing each mark as if it had played."""
    chunks: list[bytes] = []
    while sum(map(len, chunks)) < nbytes:
        audio, mark = await caller.media_and_mark()
        chunks.append(audio)
        await caller.echo(mark)
    return chunks


async def test_a_call_with_the_simulator_end_to_end(registry: Any) -> None:
    opener, observer = RecordingOpener(SimConfig(speed=0)), Observer()
    async with serving(registry, settings(), upstream=opener, observer=observer) as where:
        async with call(where) as caller:
            await caller.start({"From": "+15550100", "To": "+15550199", "lang": "de"})
            await caller.silence(200)
            await caller.speak(400)
            await caller.silence(600)
            reply = "I heard you speak for 1100 ms."  # 200 ms of padding + 400 speech + 500 silence
            total = 8 * SimConfig().ms_per_char * len(reply)
            chunks = await echo_until_heard(caller, total)
            assert sum(map(len, chunks)) == total
            await caller.stop()
        with anyio.fail_after(10):
            await observer.gone.wait()
    [context] = observer.started
    assert context.transport == "twilio" and context.call_id == CALL_SID
    assert (context.caller, context.callee, dict(context.parameters)) == (
        "+15550100",
        "+15550199",
        {"lang": "de"},
    )
    assert context.extra["streamSid"] == STREAM_SID
    assert observer.ended == ["the caller hung up (Twilio stop)"]
    transcripts = [e["transcript"] for e in opener.received if e["type"].endswith("transcript.done")]
    assert transcripts == [reply]


async def test_barge_in_against_the_simulator_truncates_what_was_heard(registry: Any) -> None:
    opener = RecordingOpener(SimConfig(speed=1.0, max_audio_ms=10_000))
    host = HostSettings(dtmf=DtmfAction(text="say: " + "a long answer that goes on and on " * 4))
    async with serving(registry, settings(host=host), upstream=opener) as where:
        async with call(where) as caller:
            await caller.start()
            await caller.dtmf("1")  # the simulator reads the long text back, paced in real time
            await echo_until_heard(caller, 3 * 800)  # 300 ms heard
            await caller.speak(200)  # the caller talks over it
            while (await caller.receive())["event"] != "clear":
                pass
            with anyio.fail_after(10):
                while not any(e["type"] == "conversation.item.truncated" for e in opener.received):
                    await caller.silence(20)
    [truncate] = [e for e in opener.sent if e["type"] == "conversation.item.truncate"]
    assert 300 <= truncate["audio_end_ms"] < 1000  # what was heard: at least the echoed marks' audio
    assert not [e for e in opener.received if e["type"] == "error"]
    cancelled = [e for e in opener.received if e["type"] == "response.done"]
    assert cancelled and cancelled[0]["response"]["status"] == "cancelled"


def build_phone_server(seen: list[Any]) -> MCPServer:
    server = MCPServer("phone")

    @server.tool(description="Who is calling?")
    async def whoami(ctx: Context) -> str:
        meta = dict(ctx.request_context.meta or {})
        seen.append(meta.get(META_CALL))
        return f"caller {meta.get(META_CALL, {}).get('caller')}"

    return server


async def test_tool_call_during_a_call(registry: Any, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[Any] = []
    caplog.set_level(logging.INFO, logger="mcp_voice.serve.tools")
    async with ToolRegistry([ServerSpec(name="phone", target=build_phone_server(seen))]) as phone:
        opener = RecordingOpener(SimConfig(speed=0))
        host = HostSettings(dtmf=DtmfAction(text="phone__whoami (key {digit})"))
        async with serving(phone, settings(host=host), upstream=opener) as where:
            async with call(where) as caller:
                await caller.start({"From": "+15550100"})
                await caller.dtmf("9")  # the simulator calls the tool the text names
                reply = "Tool result: caller +15550100"
                total = 8 * SimConfig().ms_per_char * len(reply)
                chunks = await echo_until_heard(caller, total)
                assert sum(map(len, chunks)) == total
    assert seen and seen[0]["transport"] == "twilio" and seen[0]["call_id"] == CALL_SID
    outputs = [
        e["item"]["output"] for e in opener.sent if e.get("item", {}).get("type") == "function_call_output"
    ]
    assert outputs == ["caller +15550100"]
    assert json.dumps(seen[0])  # JSON-serialisable, as it went over MCP
    [line] = [
        r.getMessage()
        for r in caplog.records
        if r.getMessage().startswith("tool call tool=") or r.getMessage().startswith("tool call session_id=")
    ]
    assert f"session_id={seen[0]['session_id']}" in line and "tool=phone__whoami" in line


def build_booking_server(log: list[str], started: anyio.Event, release: anyio.Event) -> MCPServer:
    server = MCPServer("booking")

    @server.tool(description="Book a slot (slow).")
    async def book(slot: str) -> str:
        started.set()
        try:
            await release.wait()
        except BaseException:
            log.append("cancelled")
            raise
        log.append(f"booked {slot}")
        return f"booked {slot}"

    return server


@pytest.mark.parametrize("policy", ["keep", "cancel"])
async def test_hanging_up_lets_running_calls_follow_their_policy(policy: str) -> None:
    log: list[str] = []
    started, release, observer = anyio.Event(), anyio.Event(), Observer()
    server = build_booking_server(log, started, release)
    spec = ServerSpec(name="booking", target=server, on_barge_in=policy)  # type: ignore[arg-type]
    async with ToolRegistry([spec]) as booking:
        host = HostSettings(dtmf=DtmfAction(text="booking__book slot=nine (key {digit})"))
        async with serving(
            booking, settings(host=host), upstream=RecordingOpener(), observer=observer
        ) as where:
            async with call(where) as caller:
                await caller.start()
                await caller.dtmf("9")
                with anyio.fail_after(10):
                    await started.wait()
                await caller.stop()
                with anyio.fail_after(10):
                    await caller.ws.wait_closed()  # serve closes the stream once it has the stop
                assert caller.ws.close_code == 1000
            if policy == "keep":
                assert not observer.gone.is_set()  # the session waits for the booking ...
                release.set()
            with anyio.fail_after(10):
                await observer.gone.wait()  # ... and ends once it is done (at once when cancelled)
    assert log == (["booked nine"] if policy == "keep" else ["cancelled"])
    assert observer.ended == ["the caller hung up (Twilio stop)"]
