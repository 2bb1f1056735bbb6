"""Two serve processes' worth of apps (two uvicorn servers) sharing one real Redis.

A secret minted on one opens sessions on the other; a webhook delivered twice is answered once,
wherever the second copy lands; with Redis gone, readiness and minting say so, live sessions go
on, and no secret is taken on trust.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
import pytest
import websockets
from conftest import FakeUpstream
from redis_rig import redis_server
from test_serve_keys import bearer, http, until
from test_twilio_webhook import FORM, VOICE_URL, post
from twilio_wire import AUTH_TOKEN, PUBLIC_URL, twilio_signature

from mcp_voice.serve.app import create_app
from mcp_voice.serve.openai_calls import CallsSettings
from mcp_voice.serve.openai_calls.webhooks import secret_key
from mcp_voice.serve.run import bind_socket, running
from mcp_voice.serve.settings import ServeSettings
from mcp_voice.serve.twilio.settings import TwilioSettings
from tests.serve.fake_openai import API_KEY, SECRET, fake_openai, incoming_event, webhook_headers

pytestmark = pytest.mark.anyio

KEY = "key-shared-state-1"


@asynccontextmanager
async def app_on(registry: Any, settings: ServeSettings) -> AsyncIterator[str]:
    """One serve app on a free port, its state store closed afterwards (as `run.serve` does)."""
    app = create_app(registry, settings)
    sock = bind_socket("127.0.0.1", 0)
    try:
        async with running(app, sock):
            yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        await app.state.store.aclose()


async def mint(where: str, instructions: str) -> tuple[int, str]:
    body = {"session": {"type": "realtime", "instructions": instructions}}
    return await http("POST", f"http://{where}/v1/realtime/client_secrets", body, bearer(KEY))


def secret_protocols(secret: str) -> list[Any]:
    return ["realtime", f"openai-insecure-api-key.{secret}"]


async def test_a_secret_minted_on_one_process_opens_a_pinned_session_on_another(
    registry: Any, fake_upstream: FakeUpstream
) -> None:
    with redis_server() as redis:
        settings = ServeSettings(upstream=fake_upstream.url, api_keys=(KEY,), state=redis.url)
        async with app_on(registry, settings) as a, app_on(registry, settings) as b:
            status, text = await mint(a, "Pinned on A.")
            assert status == 200
            secret = json.loads(text)["value"]
            async with websockets.connect(
                f"ws://{b}/v1/realtime", subprotocols=secret_protocols(secret)
            ) as ws:
                updated = await until(ws, "session.updated")
                while "instructions" not in updated["session"]:
                    updated = await until(ws, "session.updated")
                assert updated["session"]["instructions"] == "Pinned on A."
            # a value nobody minted opens nothing on either process
            with pytest.raises(websockets.InvalidStatus) as refused:
                await websockets.connect(f"ws://{a}/v1/realtime", subprotocols=secret_protocols("ek_forged"))
            assert refused.value.response.status_code == 401


async def test_a_replayed_webhook_is_refused_by_the_other_process(registry: Any) -> None:
    with redis_server() as redis:
        async with fake_openai() as fake:
            calls = CallsSettings(
                webhook_key=secret_key(SECRET),
                api_key=API_KEY,
                rest_base=fake.rest_base,
                ws_base=fake.ws_base,
            )
            twilio = TwilioSettings(public_url=PUBLIC_URL, auth_token=AUTH_TOKEN)
            settings = ServeSettings(upstream="sim", calls=calls, twilio=twilio, state=redis.url)
            async with app_on(registry, settings) as a, app_on(registry, settings) as b:
                fake.call("rtc_shared")
                body = incoming_event("rtc_shared", {"From": "<sip:+15550100@example.com>"})
                headers = webhook_headers(body)
                async with httpx2.AsyncClient() as client:
                    first = await client.post(f"http://{a}/openai/webhook", content=body, headers=headers)
                    again = await client.post(f"http://{b}/openai/webhook", content=body, headers=headers)
                    renamed = webhook_headers(body)  # the same call under a new delivery id
                    other = await client.post(f"http://{b}/openai/webhook", content=body, headers=renamed)
                assert first.json() == {"status": "ok"}
                assert again.json() == {"status": "duplicate"} and other.json() == {"status": "duplicate"}
                await fake.wait_request("accept")
                await anyio.sleep(0.3)  # time enough for a second answer, were one coming
                assert len(fake.requests_for("accept")) == 1  # answered once, by A

                signed = {"X-Twilio-Signature": twilio_signature(AUTH_TOKEN, VOICE_URL, FORM)}
                status_a, _, twiml = await post(a, FORM, signed)
                status_b, _, text = await post(b, FORM, signed)
                assert status_a == 200 and "<Stream" in twiml
                assert status_b == 409 and "answered already" in text
                await fake.calls["rtc_shared"].end()


async def test_redis_gone_readiness_and_minting_fail_live_sessions_go_on(
    registry: Any, fake_upstream: FakeUpstream
) -> None:
    with redis_server() as redis:
        calls = CallsSettings(webhook_key=secret_key(SECRET), api_key=API_KEY)
        twilio = TwilioSettings(public_url=PUBLIC_URL, auth_token=AUTH_TOKEN)
        settings = ServeSettings(
            upstream=fake_upstream.url, api_keys=(KEY,), state=redis.url, calls=calls, twilio=twilio
        )
        async with app_on(registry, settings) as a:
            status, text = await http("GET", f"http://{a}/readyz")
            assert status == 200 and json.loads(text)["status"] == "ready"
            _, text = await mint(a, "Minted before Redis went.")
            secret = json.loads(text)["value"]
            async with websockets.connect(f"ws://{a}/v1/realtime", additional_headers=bearer(KEY)) as live:
                await until(live, "session.created")
                redis.stop()

                status, text = await http("GET", f"http://{a}/readyz")
                ready = json.loads(text)
                assert status == 503 and ready["status"] == "unavailable"
                assert any(
                    "unreachable" in reason and str(redis.port) in reason for reason in ready["reasons"]
                )
                status, _ = await http("GET", f"http://{a}/healthz")
                assert status == 200  # alive: only not ready

                status, text = await mint(a, "Now?")
                assert (
                    status == 503
                    and "cannot keep a client secret now" in json.loads(text)["error"]["message"]
                )

                # neither a forged nor a real secret is let in while the store cannot be asked
                for offered in ("ek_forged", secret):
                    with pytest.raises(websockets.InvalidStatus) as refused:
                        await websockets.connect(
                            f"ws://{a}/v1/realtime", subprotocols=secret_protocols(offered)
                        )
                    assert refused.value.response.status_code == 503

                # webhooks are not taken (so they are delivered again, here or elsewhere): 503
                body = incoming_event("rtc_gone", {"From": "<sip:+15550100@example.com>"})
                async with httpx2.AsyncClient() as client:
                    answer = await client.post(
                        f"http://{a}/openai/webhook", content=body, headers=webhook_headers(body)
                    )
                assert answer.status_code == 503 and "unreachable" in answer.json()["error"]
                signed = {"X-Twilio-Signature": twilio_signature(AUTH_TOKEN, VOICE_URL, FORM)}
                status, _, text = await post(a, FORM, signed)
                assert status == 503 and "cannot take calls now" in text

                # the live session goes on
                update = {"type": "session.update", "session": {"instructions": "still here"}}
                await live.send(json.dumps(update))
                updated = await until(live, "session.updated")
                while updated["session"].get("instructions") != "still here":
                    updated = await until(live, "session.updated")
