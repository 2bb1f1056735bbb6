"""API keys, ephemeral client secrets and /metrics, seen from the wire of an in-process serve."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import anyio
import pytest
import websockets
from conftest import FakeUpstream, serving

from mcp_voice.serve import auth
from mcp_voice.serve.client_secrets import MemorySecretStore
from mcp_voice.serve.keys import resolve_api_keys
from mcp_voice.serve.settings import ServeSettings

pytestmark = pytest.mark.anyio

KEYS = ("key-alpha-1111", "key-beta-2222")


async def http(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    """One HTTP request with the standard library (in a thread): status and body, errors included."""

    def go() -> tuple[int, str]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    return await anyio.to_thread.run_sync(go)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def until(ws: websockets.ClientConnection, kind: str) -> dict[str, Any]:
    with anyio.fail_after(20):
        while True:
            event = json.loads(await ws.recv())
            if event["type"] == kind:
                return event


def test_api_keys_come_from_the_environment() -> None:
    assert resolve_api_keys({}) == ()
    env = {"MCP_VOICE_API_KEYS": " a-key , b-key,,", "MCP_VOICE_TOKEN": "tok"}
    assert resolve_api_keys(env) == ("a-key", "b-key", "tok")
    assert resolve_api_keys({"MINE": "x1,x2", "MCP_VOICE_API_KEYS": "ignored"}, keys_env="MINE") == (
        "x1",
        "x2",
    )
    with pytest.raises(auth.AuthConfigError, match="MINE is not set"):
        resolve_api_keys({}, keys_env="MINE")


def test_binding_beyond_loopback_needs_a_key_unless_insecure() -> None:
    with pytest.raises(auth.AuthConfigError, match="API keys"):
        auth.check_bind("0.0.0.0", ())
    auth.check_bind("0.0.0.0", KEYS)
    auth.check_bind("0.0.0.0", (), insecure=True)


@pytest.mark.parametrize("key", KEYS)
async def test_each_api_key_opens_a_session_and_others_are_refused(registry: Any, key: str) -> None:
    async with serving(registry, ServeSettings(upstream="sim", api_keys=KEYS)) as where:
        async with websockets.connect(f"ws://{where}/v1/realtime", additional_headers=bearer(key)) as ws:
            await until(ws, "session.created")
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(f"ws://{where}/v1/realtime", additional_headers=bearer("key-gamma"))
        assert refused.value.response.status_code == 401


async def test_minting_needs_an_api_key_and_answers_in_the_ga_shape(registry: Any) -> None:
    async with serving(registry, ServeSettings(upstream="sim", api_keys=KEYS)) as where:
        url = f"http://{where}/v1/realtime/client_secrets"
        status, text = await http("POST", url, {})
        assert status == 401 and "API key" in json.loads(text)["error"]["message"]
        before = int(time.time())
        request = {
            "expires_after": {"anchor": "created_at", "seconds": 120},
            "session": {"type": "realtime", "model": "gpt-realtime", "instructions": "Be brief."},
        }
        status, text = await http("POST", url, request, bearer(KEYS[1]))
        assert status == 200, text
        body = json.loads(text)
        assert body["value"].startswith("ek_") and len(body["value"]) > 20
        assert before + 120 <= body["expires_at"] <= int(time.time()) + 120
        assert body["session"]["type"] == "realtime" and body["session"]["instructions"] == "Be brief."
        # a secret cannot mint more secrets
        status, _ = await http("POST", url, {}, bearer(body["value"]))
        assert status == 401
        # the default lifetime is 600 s
        status, text = await http("POST", url, None, bearer(KEYS[0]))
        assert status == 200 and json.loads(text)["expires_at"] >= before + 600


@pytest.mark.parametrize(
    ("request_body", "param"),
    [
        ({"expires_after": {"anchor": "created_at", "seconds": 9}}, "expires_after.seconds"),
        ({"expires_after": {"anchor": "created_at", "seconds": 7201}}, "expires_after.seconds"),
        ({"expires_after": {"anchor": "now", "seconds": 60}}, "expires_after.anchor"),
        ({"expires_after": {"seconds": "60"}}, "expires_after.seconds"),
        ({"session": {"type": "transcription"}}, "session.type"),
        ({"sessions": {}}, "sessions"),
    ],
)
async def test_bad_mint_requests_say_which_field(registry: Any, request_body: Any, param: str) -> None:
    async with serving(registry, ServeSettings(upstream="sim", api_keys=KEYS)) as where:
        status, text = await http(
            "POST", f"http://{where}/v1/realtime/client_secrets", request_body, bearer(KEYS[0])
        )
    assert status == 400
    assert json.loads(text)["error"]["param"] == param


async def test_a_secret_opens_a_pinned_session_until_it_expires(
    registry: Any, fake_upstream: FakeUpstream
) -> None:
    now = [time.time()]
    store = MemorySecretStore(clock=lambda: now[0])
    settings = ServeSettings(upstream=fake_upstream.url, api_keys=KEYS)
    async with serving(registry, settings, secret_store=store) as where:
        request = {
            "expires_after": {"anchor": "created_at", "seconds": 60},
            "session": {"type": "realtime", "model": "gpt-realtime-mini", "instructions": "Pinned words."},
        }
        _, text = await http("POST", f"http://{where}/v1/realtime/client_secrets", request, bearer(KEYS[0]))
        secret = json.loads(text)["value"]
        protocols = ["realtime", f"openai-insecure-api-key.{secret}"]
        async with websockets.connect(f"ws://{where}/v1/realtime", subprotocols=protocols) as ws:  # type: ignore[list-item]
            updated = await until(ws, "session.updated")
            while "instructions" not in updated["session"]:  # the host's own tools update may come first
                updated = await until(ws, "session.updated")
            assert updated["session"]["instructions"] == "Pinned words."
            # the browser cannot change what the backend pinned; it is told so
            change = {"type": "session.update", "event_id": "evt_1", "session": {"instructions": "Obey me."}}
            await ws.send(json.dumps(change))
            error = await until(ws, "error")
            assert (
                error["error"]["code"] == "pinned_by_client_secret" and error["error"]["event_id"] == "evt_1"
            )
        assert fake_upstream.requests[0][0].endswith("model=gpt-realtime-mini")
        sent = [
            e["session"].get("instructions") for e in fake_upstream.events if e["type"] == "session.update"
        ]
        assert "Pinned words." in sent and "Obey me." not in sent
        opened = len(fake_upstream.requests)

        now[0] += 61  # expired: 401 before the upgrade, and no upstream connection
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(f"ws://{where}/v1/realtime", subprotocols=protocols)  # type: ignore[arg-type]
        assert refused.value.response.status_code == 401
        with pytest.raises(websockets.InvalidStatus):
            await websockets.connect(f"ws://{where}/v1/realtime?token=ek_unknownsecretvalue123")
        assert len(fake_upstream.requests) == opened


async def test_an_unknown_secret_is_refused_even_without_api_keys(
    registry: Any, fake_upstream: FakeUpstream
) -> None:
    async with serving(registry, ServeSettings(upstream=fake_upstream.url)) as where:
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(
                f"ws://{where}/v1/realtime", additional_headers=bearer("ek_madeupsecret1234")
            )
        assert refused.value.response.status_code == 401
    assert fake_upstream.requests == []


async def test_metrics_need_a_key_and_count_sessions_and_errors(registry: Any) -> None:
    async with serving(registry, ServeSettings(upstream="sim", api_keys=KEYS)) as where:
        status, _ = await http("GET", f"http://{where}/metrics")
        assert status == 401
        async with websockets.connect(f"ws://{where}/v1/realtime", additional_headers=bearer(KEYS[0])) as ws:
            await until(ws, "session.created")
            await ws.send("not json {")
            await until(ws, "error")
        status, text = await http("GET", f"http://{where}/healthz")
        assert status == 200 and KEYS[0] not in text
        with anyio.fail_after(20):
            while True:
                status, text = await http("GET", f"http://{where}/metrics", headers=bearer(KEYS[1]))
                if "mcp_voice_sessions_active 0.0" in text:
                    break
                await anyio.sleep(0.05)
    assert status == 200
    assert 'mcp_voice_sessions_total{transport="relay"} 1.0' in text
    assert (
        'mcp_voice_errors_sent_total{code="invalid_json"}' in text or "mcp_voice_errors_sent_total{" in text
    )
    assert "mcp_voice_session_duration_seconds_count" in text


async def test_the_openai_sdk_mints_a_secret_and_a_session_opens_with_it(registry: Any) -> None:
    """A backend with the openai SDK mints; a "browser" connects with the ephemeral secret as its key."""
    from openai import AsyncOpenAI

    async with serving(registry, ServeSettings(upstream="sim", api_keys=KEYS)) as where:
        async with AsyncOpenAI(api_key=KEYS[0], base_url=f"http://{where}/v1", max_retries=0) as backend:
            minted = await backend.realtime.client_secrets.create(
                expires_after={"anchor": "created_at", "seconds": 300},
                session={"type": "realtime", "model": "gpt-realtime", "instructions": "From the backend."},
            )
        assert minted.value.startswith("ek_") and minted.session.instructions == "From the backend."
        async with AsyncOpenAI(api_key=minted.value, websocket_base_url=f"ws://{where}/v1") as browser:
            with anyio.fail_after(30):
                async with browser.realtime.connect(model="gpt-realtime") as conn:
                    async for event in conn:
                        if (
                            event.type == "session.updated"
                            and event.session.instructions == "From the backend."
                        ):
                            break
        unknown = "ek_notminted0000000"
        async with AsyncOpenAI(api_key=unknown, base_url=f"http://{where}/v1", max_retries=0) as refused:
            with pytest.raises(Exception, match="401"):
                await refused.realtime.client_secrets.create()
