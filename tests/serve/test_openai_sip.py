"""OpenAI SIP calls at the wire: a signed webhook rings serve, serve answers OpenAI and runs our tools
over the sideband (a fake OpenAI on loopback plays the model and the phone network)."""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
import httpx2
import pytest

from mcp_voice.api import load_tools
from mcp_voice.config import Config, parse_config
from mcp_voice.hookspecs import hookimpl
from mcp_voice.session.context import CallContext
from mcp_voice.session.decision import CallDecision
from tests.serve.calls_rig import WAIT_S, CallTools, accepted, rig
from tests.serve.fake_openai import API_KEY
from tests.session.wire import ev

pytestmark = pytest.mark.anyio


async def test_accepted_call_runs_tools_long_running_barge_in_and_dtmf() -> None:
    async with rig() as r:
        accept = await accepted(r, "rtc_sip1")
        # accept: the configured session, the host's tools as function tools (validated by the fake)
        body = accept.body
        assert body["type"] == "realtime" and body["model"] == "gpt-realtime"
        assert body["instructions"] == "You answer the phone for Example Ltd."
        assert body["audio"] == {"output": {"voice": "marin"}}
        assert {t["name"] for t in body["tools"]} >= {"calls__lookup", "calls__report", "calls__whoami"}
        assert accept.headers["authorization"] == f"Bearer {API_KEY}"
        call = r.fake.calls["rtc_sip1"]
        assert call.headers[0]["authorization"] == f"Bearer {API_KEY}"

        # a host tool
        item = await call.call_tool("calls__lookup", {"city": "Paris"})
        assert await call.output_for(item["call_id"]) == "sunny in Paris"
        await call.next("response.create")

        # the tool sees the call: transport, caller, SIP headers
        item = await call.call_tool("calls__whoami")
        seen = json.loads(await call.output_for(item["call_id"]))
        assert seen["transport"] == "sip" and seen["call_id"] == "rtc_sip1"
        assert seen["caller"] == "+15550100" and seen["callee"] == "+15550199"
        assert seen["headers"]["X-Account"] == "42"

        # a long-running tool: a placeholder at once, barge-in while it runs, the result injected later
        item = await call.call_tool("calls__report", {"topic": "sales"})
        placeholder = await call.output_for(item["call_id"])
        assert "background" in placeholder
        await r.tools.gate.started.wait()
        await call.play(ev("input_audio_buffer.speech_started", audio_start_ms=100, item_id="item_user"))
        r.tools.gate.release.set()
        note = await call.next(
            "conversation.item.create", lambda e: item["call_id"] in json.dumps(e["item"].get("content"))
        )
        assert "report on sales: done" in json.dumps(note["item"]["content"])
        assert not r.tools.gate.cancelled.is_set()  # `keep`: barge-in did not cancel it

        # DTMF: the shared action turns a keypad press into a user text and a response
        await call.play(ev("input_audio_buffer.speech_stopped", audio_end_ms=900, item_id="item_user"))
        await call.play(ev("input_audio_buffer.dtmf_event_received", event="5", received_at=1767225600))
        pressed = await call.next("conversation.item.create", lambda e: e["item"].get("role") == "user")
        assert pressed["item"]["content"][0]["text"] == "The caller pressed 5."

        # the caller hangs up: OpenAI closes the sideband, the session ends cleanly
        await call.end()
        with anyio.fail_after(WAIT_S):
            await r.watcher.gone.wait()
        [(context, reason)] = r.watcher.ended
        assert context.transport == "sip" and context.call_id == "rtc_sip1" and reason
        assert r.watcher.started == [context]


async def test_hook_incoming_call() -> None:
    # reject with a SIP status
    async with rig(decision=CallDecision.reject(486)) as r:
        assert (await r.ring("rtc_busy")).status_code == 200
        reject = await r.fake.wait_request("reject")
        assert reject.call_id == "rtc_busy" and reject.body == {"status_code": 486}
        [context] = r.watcher.rung
        assert context.transport == "sip" and context.caller == "+15550100"
        assert context.headers["X-Account"] == "42"
        assert not r.fake.requests_for("accept") and r.fake.calls["rtc_busy"].connections == 0
    # refer elsewhere
    async with rig(decision=CallDecision.refer("tel:+15550123")) as r:
        await r.ring("rtc_refer")
        refer = await r.fake.wait_request("refer")
        assert refer.body == {"target_uri": "tel:+15550123"}
        assert not r.fake.requests_for("accept")
    # accept with the plugin's session fields over the configured ones
    async with rig(
        decision=CallDecision.accept({"instructions": "Speak German.", "max_output_tokens": 500})
    ) as r:
        accept = await accepted(r, "rtc_de")
        assert accept.body["instructions"] == "Speak German." and accept.body["max_output_tokens"] == 500
        assert accept.body["audio"] == {"output": {"voice": "marin"}}


class BadDecider:
    name = "bad"

    @hookimpl
    def incoming_call(self, context: CallContext) -> Any:
        raise RuntimeError("plugin bug")


async def test_a_failing_decider_is_skipped_and_the_call_accepted() -> None:
    tools = CallTools()
    setup = load_tools(Config(), plugins=[], extra_plugins=[tools, BadDecider()])
    context = CallContext(transport="sip", call_id="x")
    assert setup.session_observer().incoming_call(context) is None


async def test_forged_stale_and_replayed_webhooks_are_refused() -> None:
    async with rig() as r:
        wrong = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="
        assert (await r.ring("rtc_forged", secret=wrong)).status_code == 401
        assert (await r.ring("rtc_tampered", tamper=True)).status_code == 401
        stale = await r.ring("rtc_stale", timestamp=int(time.time()) - 3600)
        assert stale.status_code == 401 and "tolerance" in stale.json()["error"]
        async with httpx2.AsyncClient() as client:
            missing = await client.post(f"{r.url}/openai/webhook", content=b"{}")
        assert missing.status_code == 400
        # a valid delivery, then the same delivery again: answered once
        first = await r.ring("rtc_once", webhook_id="wh_fixed")
        again = await r.ring("rtc_once", webhook_id="wh_fixed")
        assert first.status_code == 200 and again.json() == {"status": "duplicate"}
        await r.fake.wait_request("accept")
        with anyio.fail_after(WAIT_S):
            await r.fake.calls["rtc_once"].connected.wait()
        accepted_ids = [req.call_id for req in r.fake.requests_for("accept")]
        assert accepted_ids == ["rtc_once"]
        assert len(r.watcher.rung) == 1


async def test_without_a_secret_the_webhook_is_off_and_says_why() -> None:
    async with rig(webhook_key=None) as r:
        response = await r.ring("rtc_off")
        assert response.status_code == 503
        assert "OPENAI_WEBHOOK_SECRET" in response.json()["error"]
        assert not r.fake.requests


async def test_approval_refused_on_calls_tells_the_model() -> None:
    config = parse_config({"plugins": {"calltools": {"approval": ["lookup"]}}})
    async with rig(config=config) as r:
        await accepted(r, "rtc_approve")
        call = r.fake.calls["rtc_approve"]
        item = await call.call_tool("calls__lookup", {"city": "Rome"})
        output = await call.output_for(item["call_id"])
        assert "declined" in output or "refused" in output, output
        assert "sunny" not in output


async def test_approval_auto_runs_the_tool() -> None:
    config = parse_config({"plugins": {"calltools": {"approval": ["lookup"]}}})
    async with rig(config=config, approval="auto") as r:
        await accepted(r, "rtc_auto")
        call = r.fake.calls["rtc_auto"]
        item = await call.call_tool("calls__lookup", {"city": "Rome"})
        assert await call.output_for(item["call_id"]) == "sunny in Rome"


async def test_the_call_ending_ends_the_session_and_cancels_running_calls() -> None:
    async with rig() as r:
        await accepted(r, "rtc_end")
        call = r.fake.calls["rtc_end"]
        await call.call_tool("calls__report", {"topic": "q3"})
        with anyio.fail_after(WAIT_S):
            await r.tools.gate.started.wait()
        await call.end()  # the caller hangs up while the report runs
        with anyio.fail_after(WAIT_S):
            await r.watcher.gone.wait()
            await r.tools.gate.cancelled.wait()  # MCP cancellation reached the tool
        assert call.connections == 1  # an ended call is not reconnected


async def test_a_dropped_sideband_reconnects_and_delivers_the_owed_result_once() -> None:
    async with rig() as r:
        await accepted(r, "rtc_drop")
        call = r.fake.calls["rtc_drop"]
        item = await call.call_tool("calls__report", {"topic": "uptime"})
        await call.output_for(item["call_id"])  # the placeholder
        with anyio.fail_after(WAIT_S):
            await r.tools.gate.started.wait()
        await call.drop()  # the connection breaks; the call goes on at OpenAI
        async with anyio.create_task_group() as race:  # whichever comes first: a reconnect, or the end

            async def first(wait: Any) -> None:
                await wait()
                race.cancel_scope.cancel()

            race.start_soon(first, lambda: call.wait_connections(2))
            race.start_soon(first, r.watcher.gone.wait)
        assert not r.watcher.gone.is_set(), f"the session ended: {r.watcher.ended}"
        assert call.connections == 2
        r.tools.gate.release.set()
        await call.next("conversation.item.create", lambda e: item["call_id"] in json.dumps(e["item"]))
        delivered = [
            e for e in call.sent("conversation.item.create") if "uptime: done" in json.dumps(e["item"])
        ]
        assert len(delivered) == 1
        assert not r.tools.gate.cancelled.is_set() and not r.watcher.gone.is_set()


async def test_barge_in_cancels_a_tool_whose_policy_says_so() -> None:
    config = parse_config({"plugins": {"calltools": {"on_barge_in": "cancel"}}})
    async with rig(config=config) as r:
        await accepted(r, "rtc_cancel")
        call = r.fake.calls["rtc_cancel"]
        item = await call.call_tool("calls__report", {"topic": "cancelled"})
        await call.output_for(item["call_id"])  # the placeholder
        with anyio.fail_after(WAIT_S):
            await r.tools.gate.started.wait()
        await call.play(ev("input_audio_buffer.speech_started", audio_start_ms=100, item_id="item_user"))
        with anyio.fail_after(WAIT_S):
            await r.tools.gate.cancelled.wait()  # MCP cancellation reached the tool
        # nothing is injected for it: the next host item is the DTMF text, not a result
        await call.play(ev("input_audio_buffer.dtmf_event_received", event="#", received_at=1767225600))
        pressed = await call.next("conversation.item.create", lambda e: e["item"].get("type") == "message")
        assert pressed["item"]["content"][0]["text"] == "The caller pressed #."


async def test_the_same_call_under_a_new_delivery_id_is_answered_once() -> None:
    async with rig() as r:
        await accepted(r, "rtc_twice")
        again = await r.ring("rtc_twice")  # a fresh, validly signed delivery of the same call
        assert again.status_code == 200 and again.json() == {"status": "duplicate"}
        assert len(r.fake.requests_for("accept")) == 1 and r.fake.calls["rtc_twice"].connections == 1


async def test_a_sip_call_is_counted_in_metrics() -> None:
    async with rig() as r:
        await accepted(r, "rtc_metrics")
        call = r.fake.calls["rtc_metrics"]
        item = await call.call_tool("calls__lookup", {"city": "Oslo"})
        await call.output_for(item["call_id"])
        await call.end()
        with anyio.fail_after(WAIT_S):
            await r.watcher.gone.wait()  # the plugins' hooks still run behind the metrics observer
        async with httpx2.AsyncClient() as client:
            text = (await client.get(f"{r.url}/metrics")).text
        assert 'mcp_voice_sessions_total{transport="sip"} 1.0' in text
        assert 'mcp_voice_tool_calls_total{outcome="ok",tool="calls__lookup"} 1.0' in text
