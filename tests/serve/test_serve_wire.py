"""Serve at the wire with a raw WebSocket client: bad input, upstream errors, beta approvals."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
import websockets
from conftest import FakeUpstream, serving
from tool_server import server as tool_server

from mcp_voice.serve.settings import ServeSettings
from mcp_voice.sim import SimConfig
from mcp_voice.tools.registry import ToolRegistry
from mcp_voice.tools.spec import ServerSpec
from mcp_voice.upstreams import open_upstream

pytestmark = pytest.mark.anyio
BETA = {"OpenAI-Beta": "realtime=v1"}


def instant_sim(target: str, **kw: Any) -> Any:
    return open_upstream(target, sim_config=SimConfig(speed=0), **kw)


async def until(ws: websockets.ClientConnection, kind: str, seen: list[dict] | None = None) -> dict:
    """The next event of type `kind` (everything received on the way is appended to `seen`)."""
    with anyio.fail_after(10):
        while True:
            event = json.loads(await ws.recv())
            if seen is not None:
                seen.append(event)
            if event["type"] == kind:
                return event


def user_text(text: str) -> str:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    return json.dumps({"type": "conversation.item.create", "item": item})


async def test_bad_input_gets_errors_nothing_is_forwarded_and_the_socket_stays(
    registry: Any, fake_upstream: FakeUpstream
) -> None:
    async with serving(registry, ServeSettings(upstream=fake_upstream.url)) as where:
        async with websockets.connect(f"ws://{where}/v1/realtime?model=gpt-realtime") as ws:
            await until(ws, "session.created")
            bad = [
                ("not json {", None, "JSON"),
                ("[1, 2]", None, "object"),
                ('{"type": "bogus.event", "event_id": "evt_bogus"}', "evt_bogus", "bogus.event"),
                ('{"event_id": "evt_notype"}', "evt_notype", "type"),
                (
                    '{"type": "input_audio_buffer.append", "event_id": "evt_audio", "audio": 5}',
                    "evt_audio",
                    "audio",
                ),
                (
                    '{"type": "response.create", "event_id": "evt_resp", "response": 7}',
                    "evt_resp",
                    "response",
                ),
                (  # a stray field (here a credential) is refused, not forwarded
                    '{"type": "input_audio_buffer.append", "event_id": "evt_key", "audio": "", "api_key": 1}',
                    "evt_key",
                    "api_key",
                ),
            ]
            for raw, event_id, mentioned in bad:
                await ws.send(raw)
                error = (await until(ws, "error"))["error"]
                assert error["event_id"] == event_id, (raw, error)
                assert error["type"] == "invalid_request_error" and mentioned in error["message"], (
                    raw,
                    error,
                )
            # still open, and still relaying
            update = {"type": "session.update", "event_id": "evt_ok", "session": {"type": "realtime"}}
            await ws.send(json.dumps(update))
            await until(ws, "session.updated")
    forwarded = [(e["type"], e.get("event_id")) for e in fake_upstream.events]
    assert {kind for kind, _ in forwarded} == {"session.update"}, forwarded  # the host's and the client's
    assert ("session.update", "evt_ok") in forwarded


@pytest.mark.parametrize("dialect", ["ga", "beta"])
async def test_upstream_errors_reach_the_client_and_the_session_goes_on(registry: Any, dialect: str) -> None:
    headers = BETA if dialect == "beta" else {}
    async with serving(registry, ServeSettings(upstream="sim"), upstream=instant_sim) as where:
        async with websockets.connect(f"ws://{where}/v1/realtime", additional_headers=headers) as ws:
            await until(ws, "session.created")
            await ws.send(
                json.dumps({"type": "conversation.item.delete", "event_id": "evt_del", "item_id": "nope"})
            )
            error = (await until(ws, "error"))["error"]
            assert (error["code"], error["event_id"]) == ("item_not_found", "evt_del")  # the simulator's own
            await ws.send(user_text("say: still here"))
            await ws.send(json.dumps({"type": "response.create"}))
            done = await until(ws, "response.done")
            assert done["response"]["status"] == "completed"


@pytest.fixture
async def approval_registry() -> AsyncIterator[ToolRegistry]:
    async with ToolRegistry([ServerSpec(name="testtools", target=tool_server, approval=("lookup",))]) as reg:
        yield reg


@pytest.mark.parametrize("approve", [True, False], ids=["approved", "declined"])
async def test_beta_client_approves_a_host_tool(approval_registry: ToolRegistry, approve: bool) -> None:
    """Beta has no MCP items, but the approval request still reaches it, and its answer counts."""
    async with serving(approval_registry, ServeSettings(upstream="sim"), upstream=instant_sim) as where:
        async with websockets.connect(f"ws://{where}/v1/realtime", additional_headers=BETA) as ws:
            seen: list[dict] = []
            await until(ws, "session.created", seen)
            await ws.send(json.dumps({"type": "session.update", "session": {"modalities": ["text"]}}))
            await until(ws, "session.updated", seen)
            await ws.send(user_text('testtools__lookup {"city": "Paris"}'))
            await ws.send(json.dumps({"type": "response.create"}))
            while True:
                created = await until(ws, "conversation.item.created", seen)
                if created["item"]["type"] == "mcp_approval_request":
                    break
            request = created["item"]
            assert (request["server_label"], request["name"]) == ("testtools", "lookup")
            assert json.loads(request["arguments"]) == {"city": "Paris"}
            answer = {
                "type": "mcp_approval_response",
                "approval_request_id": request["id"],
                "approve": approve,
            }
            await ws.send(
                json.dumps({"type": "conversation.item.create", "event_id": "evt_ok", "item": answer})
            )
            while True:
                text = (await until(ws, "response.text.done", seen))["text"]
                if "Tool result" in text:
                    break
    assert ("sunny in Paris" in text) is approve
    assert ("declined" in text) is not approve
    kinds = {e["type"] for e in seen}
    assert not kinds & {"conversation.item.added", "response.output_text.done", "response.output_text.delta"}
    assert not [k for k in kinds if "mcp_call" in k]  # beta names only; no GA-only events
    assert "error" not in kinds
