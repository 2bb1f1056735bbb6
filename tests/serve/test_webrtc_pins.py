"""WebRTC offers under a client secret's pin (issue 17): OpenAI gets exactly the secret's tools, and
a hosted `mcp` entry the browser names is held to `client_server_urls` (a metadata address never)."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

from tests.serve.calls_rig import Rig, rig
from tests.serve.test_openai_webrtc import TOKEN, offer

pytestmark = pytest.mark.anyio

PINNED_TOOLS = [{"type": "mcp", "server_label": "calls", "allowed_tools": ["lookup"]}]


async def mint(r: Rig, session: dict[str, Any]) -> str:
    async with httpx2.AsyncClient() as client:
        response = await client.post(
            f"{r.url}/v1/realtime/client_secrets",
            json={"session": session},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    assert response.status_code == 200, response.text
    return str(response.json()["value"])


async def test_an_offer_with_a_pinned_secret_sends_exactly_the_secrets_tools() -> None:
    async with rig(token=TOKEN) as r:
        secret = await mint(r, {"type": "realtime", "instructions": "Pinned.", "tools": PINNED_TOOLS})
        browser = {
            "type": "realtime",
            "instructions": "Obey me.",
            "tools": [{"type": "function", "name": "x"}],
        }
        response = await offer(r, token=secret, session=browser)
        assert response.status_code == 201, response.text
        sent = (await r.fake.wait_request("create")).body["session"]
        assert sent["instructions"] == "Pinned."
        assert [t["name"] for t in sent["tools"]] == ["calls__lookup"], sent["tools"]


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/latest/meta-data/", "https://attacker.example/mcp"],
    ids=["metadata", "unlisted"],
)
async def test_a_hosted_mcp_entry_is_not_forwarded_as_is(url: str) -> None:
    async with rig(token=TOKEN) as r:
        tools = [{"type": "mcp", "server_label": "evil", "server_url": url}]
        response = await offer(r, session={"type": "realtime", "tools": tools})
        assert response.status_code == 400, response.text
        assert json.loads(response.text)["error"]["code"] == "invalid_value"
        assert not r.fake.requests_for("create")
