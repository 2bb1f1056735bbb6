"""Real clients against serve (simulator upstream): the openai SDK (GA and beta) and openai-agents.

Each completes a session in which the model calls a host tool: a quick one (result spoken in the
same turn) and a long-running one (an acknowledgement first, the result in a later reply).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from conftest import serving

from mcp_voice.serve.settings import ServeSettings
from mcp_voice.sim import SimConfig
from mcp_voice.upstreams import open_upstream

pytestmark = pytest.mark.anyio

QUICK = ('testtools__lookup {"city": "Paris"}', "sunny in Paris")
SLOW = ('testtools__slow_report {"topic": "fleet"}', "all systems nominal")


def fast_sim(target: str, **kw: Any) -> Any:
    """The simulator, streaming its replies at 50x real time so a session takes a moment, not 20 s."""
    return open_upstream(target, sim_config=SimConfig(speed=0.02), **kw)


@pytest.fixture
async def endpoint(registry: Any) -> AsyncIterator[str]:
    async with serving(registry, ServeSettings(upstream="sim"), upstream=fast_sim) as where:
        yield where


def _dump(event: Any) -> dict[str, Any]:
    return event.model_dump() if hasattr(event, "model_dump") else dict(event)


def _texts(event: dict[str, Any]) -> list[str]:
    """The assistant text an event finishes (GA or beta names)."""
    kind = event["type"]
    if kind.endswith(("output_text.done", "response.text.done")):
        return [event.get("text") or ""]
    if kind.endswith("transcript.done"):
        return [event.get("transcript") or ""]
    return []


def _mcp_items(event: dict[str, Any]) -> list[dict[str, Any]]:
    item = event.get("item")
    return [item] if isinstance(item, dict) and item.get("type") == "mcp_call" else []


async def _sdk_session(conn: Any, text: str, want: str, *, beta: bool) -> tuple[list[dict], list[str]]:
    """Send one user message, then collect events until an assistant reply contains `want`."""
    modalities = {"modalities": ["text"]} if beta else {"type": "realtime", "output_modalities": ["text"]}
    await conn.session.update(session=modalities)
    content_type = "input_text"
    await conn.conversation.item.create(
        item={"type": "message", "role": "user", "content": [{"type": content_type, "text": text}]}
    )
    await conn.response.create()
    events: list[dict] = []
    replies: list[str] = []
    with anyio.fail_after(30):
        async for raw in conn:
            event = _dump(raw)
            events.append(event)
            replies += _texts(event)
            if any(want in reply for reply in replies):
                return events, replies
    raise AssertionError("connection closed before the answer")


@pytest.mark.parametrize("beta", [False, True], ids=["ga", "beta"])
@pytest.mark.parametrize(("text", "want"), [QUICK, SLOW], ids=["sync", "long-running"])
async def test_openai_sdk(endpoint: str, beta: bool, text: str, want: str) -> None:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key="client-key", websocket_base_url=f"ws://{endpoint}/v1")
    realtime = client.beta.realtime if beta else client.realtime
    async with realtime.connect(model="gpt-realtime") as conn:
        events, replies = await _sdk_session(conn, text, want, beta=beta)
    kinds = [e["type"] for e in events]
    assert "error" not in kinds, [e for e in events if e["type"] == "error"]
    calls = [item for e in events for item in _mcp_items(e)]
    if beta:
        # Beta has no hosted-MCP items: the host's call is invisible, only its answer is heard.
        assert calls == [], calls
        assert not [e for e in events if (e.get("item") or {}).get("type") == "function_call"]
    else:
        assert calls, kinds
        assert any("lookup" in c.get("name", "") or "slow_report" in c.get("name", "") for c in calls)
    if text == SLOW[0]:
        # the acknowledgement reply came first, the result in a later one
        assert len(replies) >= 2 and want not in replies[0]
    assert "testtools__" not in " ".join(kinds)


@pytest.mark.parametrize(("text", "want"), [QUICK, SLOW], ids=["sync", "long-running"])
async def test_openai_agents(endpoint: str, text: str, want: str) -> None:
    from agents.realtime import RealtimeAgent, RealtimeRunner

    agent = RealtimeAgent(name="assistant", instructions="Use the tools.")
    runner = RealtimeRunner(
        starting_agent=agent,
        config={"model_settings": {"output_modalities": ["text"]}, "tracing_disabled": True},
    )
    model_config: Any = {"url": f"ws://{endpoint}/v1/realtime?model=gpt-realtime", "api_key": "client-key"}
    session = await runner.run(model_config=model_config)
    errors: list[Any] = []
    replies: list[str] = []
    raw_types: list[str] = []
    with anyio.fail_after(30):
        async with session:
            await session.send_message(text)
            async for event in session:
                if event.type == "error":
                    errors.append(event.error)
                if event.type == "raw_model_event":
                    data = event.data
                    if data.type == "raw_server_event":
                        raw = data.data
                        raw_types.append(raw.get("type", ""))
                        replies += _texts(raw)
                if any(want in reply for reply in replies):
                    break
    assert errors == []
    assert any(t.startswith("response.mcp_call") or t == "response.output_item.added" for t in raw_types)
    if text == SLOW[0]:
        assert len(replies) >= 2 and want not in replies[0]
