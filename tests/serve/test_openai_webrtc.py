"""WebRTC through serve: the browser's offer goes to OpenAI with our tools and the upstream key (which
the browser never sees), the SDP answer comes back, and a sideband runs the tools."""

from __future__ import annotations

import json

import anyio
import httpx2
import pytest

from tests.serve.calls_rig import WAIT_S, Rig, rig
from tests.serve.fake_openai import ANSWER_SDP, API_KEY

pytestmark = pytest.mark.anyio

TOKEN = "serve-client-token"
OFFER = "v=0\r\no=- 42 2 IN IP4 127.0.0.1\r\ns=browser offer\r\n"
BROWSER_TOOL = {
    "type": "function",
    "name": "show_map",
    "description": "Show a map in the page.",
    "parameters": {"type": "object", "properties": {"place": {"type": "string"}}},
}


async def offer(
    r: Rig, *, token: str | None = TOKEN, session: object = None, raw: bool = False
) -> httpx2.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient() as client:
        if raw:
            headers["Content-Type"] = "application/sdp"
            return await client.post(f"{r.url}/v1/realtime/calls", content=OFFER, headers=headers)
        files = {"sdp": (None, OFFER, "application/sdp")}
        if session is not None:
            text = session if isinstance(session, str) else json.dumps(session)
            files["session"] = (None, text, "application/json")
        return await client.post(f"{r.url}/v1/realtime/calls", files=files, headers=headers)


async def test_offer_is_forwarded_with_our_tools_and_the_sideband_runs_them() -> None:
    async with rig(token=TOKEN) as r:
        session = {
            "type": "realtime",
            "model": "gpt-realtime",
            "instructions": "Be brief.",
            "tools": [BROWSER_TOOL],
        }
        response = await offer(r, session=session)
        assert response.status_code == 201, response.text
        assert response.text == ANSWER_SDP
        assert response.headers["content-type"].startswith("application/sdp")
        call_id = response.headers["location"].rsplit("/", 1)[1]
        assert API_KEY not in response.text and API_KEY not in str(response.headers)

        create = await r.fake.wait_request("create")
        assert create.headers["authorization"] == f"Bearer {API_KEY}"  # the upstream key, not the token
        assert create.body["sdp"] == OFFER
        sent = create.body["session"]
        assert sent["instructions"] == "Be brief."
        names = [t["name"] for t in sent["tools"]]
        assert "show_map" in names and "calls__lookup" in names

        call = r.fake.calls[call_id]
        with anyio.fail_after(WAIT_S):
            await call.connected.wait()
        update = await call.next("session.update")
        assert {"show_map", "calls__whoami"} <= {t["name"] for t in update["session"]["tools"]}
        item = await call.call_tool("calls__whoami")
        seen = json.loads(await call.output_for(item["call_id"]))
        assert seen["transport"] == "webrtc" and seen["call_id"] == call_id


async def test_a_bare_sdp_offer_works_too() -> None:
    async with rig(token=TOKEN) as r:
        response = await offer(r, raw=True)
        assert response.status_code == 201 and response.text == ANSWER_SDP
        create = await r.fake.wait_request("create")
        assert create.body["session"]["type"] == "realtime"


async def test_without_the_token_nothing_reaches_openai() -> None:
    async with rig(token=TOKEN) as r:
        assert (await offer(r, token=None)).status_code == 401
        assert (await offer(r, token="wrong")).status_code == 401
        assert not r.fake.requests


async def test_a_bad_offer_gets_a_clear_error() -> None:
    async with rig(token=TOKEN) as r:
        response = await offer(r, session="{not json")
        assert response.status_code == 400 and "not JSON" in response.json()["error"]["message"]
        assert not r.fake.requests


async def test_without_an_openai_key_the_route_is_off_and_says_why() -> None:
    async with rig(token=TOKEN, api_key=None) as r:
        response = await offer(r, session={"type": "realtime"})
        assert response.status_code == 503 and "OPENAI_API_KEY" in response.json()["error"]["message"]


async def test_a_client_secret_opens_a_call_with_its_pinned_config() -> None:
    async with rig(token=TOKEN) as r:
        async with httpx2.AsyncClient() as client:
            minted = await client.post(
                f"{r.url}/v1/realtime/client_secrets",
                json={"session": {"type": "realtime", "instructions": "Pinned by the backend."}},
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
        assert minted.status_code == 200, minted.text
        secret = minted.json()["value"]
        response = await offer(r, token=secret, session={"type": "realtime", "instructions": "Widened."})
        assert response.status_code == 201, response.text
        create = await r.fake.wait_request("create")
        assert create.body["session"]["instructions"] == "Pinned by the backend."
        assert (await offer(r, token="ek_unknown")).status_code == 401
