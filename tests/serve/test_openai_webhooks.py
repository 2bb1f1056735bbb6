"""Webhook verification agrees with the openai SDK's verifier, and the small parsers behave."""

from __future__ import annotations

import re
import textwrap
import time
import tomllib
from pathlib import Path

import pytest
from openai import InvalidWebhookSignatureError, OpenAI

from mcp_voice.config import parse_config
from mcp_voice.serve.openai_calls import calls_settings
from mcp_voice.serve.openai_calls.incoming import call_context, sip_user
from mcp_voice.serve.openai_calls.webhooks import WebhookRejected, secret_key, verify
from mcp_voice.serve.state.memory import MemoryState
from mcp_voice.session.decision import CallDecision
from mcp_voice_call_control import CallControlSettings
from tests.serve.fake_openai import SECRET, incoming_event, webhook_headers

SDK = OpenAI(api_key="sk-unused", webhook_secret=SECRET)
BODY = incoming_event("rtc_1", {"From": "<sip:+15550100@example.com>"})


def sdk_accepts(body: bytes, headers: dict[str, str]) -> bool:
    try:
        SDK.webhooks.verify_signature(body, headers)
    except InvalidWebhookSignatureError:
        return False
    return True


def we_accept(body: bytes, headers: dict[str, str]) -> bool:
    try:
        verify(secret_key(SECRET), body, headers)
    except WebhookRejected:
        return False
    return True


def cases() -> dict[str, tuple[bytes, dict[str, str]]]:
    good = webhook_headers(BODY)
    other = "whsec_" + "c29tZSBvdGhlciBzZWNyZXQga2V5IGhlcmUhIQ=="
    return {
        "valid": (BODY, good),
        "tampered body": (BODY.replace(b"rtc_1", b"rtc_2"), good),
        "other secret": (BODY, webhook_headers(BODY, secret=other)),
        "stale": (BODY, webhook_headers(BODY, timestamp=int(time.time()) - 301 - 5)),
        "from the future": (BODY, webhook_headers(BODY, timestamp=int(time.time()) + 400)),
        "one of several signatures": (
            BODY,
            {**good, "webhook-signature": "v1,AAAA " + good["webhook-signature"]},
        ),
        "id swapped": (BODY, {**good, "webhook-id": "wh_other"}),
    }


@pytest.mark.parametrize("case", list(cases()))
def test_we_accept_exactly_what_the_sdk_accepts(case: str) -> None:
    body, headers = cases()[case]
    assert we_accept(body, headers) == sdk_accepts(body, headers)
    assert we_accept(body, headers) == (case in ("valid", "one of several signatures"))


def test_missing_headers_are_a_bad_request() -> None:
    with pytest.raises(WebhookRejected) as caught:
        verify(secret_key(SECRET), BODY, {"webhook-id": "x"})
    assert caught.value.status == 400


def test_a_whsec_secret_that_is_not_base64_is_refused() -> None:
    with pytest.raises(ValueError, match="base64"):
        secret_key("whsec_not base64!")


@pytest.mark.anyio
async def test_seen_deliveries_expire_and_stay_bounded() -> None:
    now = [0.0]
    seen = MemoryState(clock=lambda: now[0], limit=3)
    assert await seen.first_seen("a", 10) and not await seen.first_seen("a", 10)
    assert await seen.first_seen("b", 10) and await seen.first_seen("c", 10)
    assert await seen.first_seen("d", 10)  # "a" pushed out
    assert len(seen._seen) <= 3
    now[0] = 100.0
    assert await seen.first_seen("d", 10)  # forgotten after the window


def test_call_context_from_webhook_data() -> None:
    data = {
        "call_id": "rtc_9",
        "sip_headers": [
            {"name": "From", "value": '"Ada" <sip:+15550100@example.com>;tag=1'},
            {"name": "To", "value": "<tel:+15550199>"},
            {"name": "Diversion", "value": "<sip:a@x>"},
            {"name": "Diversion", "value": "<sip:b@x>"},
            {"name": 7, "value": "ignored"},
        ],
    }
    context = call_context(data)
    assert (context.transport, context.call_id, context.caller, context.callee) == (
        "sip",
        "rtc_9",
        "+15550100",
        "+15550199",
    )
    assert context.headers["Diversion"] == "<sip:a@x>, <sip:b@x>"
    assert sip_user("anonymous") is None


def test_call_decisions_check_their_values() -> None:
    with pytest.raises(ValueError, match="tel: or sip:"):
        CallDecision.refer("https://evil.example")
    with pytest.raises(ValueError, match="400-699"):
        CallDecision.reject(200)
    assert CallDecision.refer("sip:desk@example.com").target_uri == "sip:desk@example.com"


@pytest.mark.parametrize("doc", ["README.md", "docs/openai-calls.md"])
def test_the_documented_settings_are_valid(doc: str) -> None:
    text = (Path(__file__).resolve().parents[2] / doc).read_text()
    [block] = [b for b in re.findall(r"```toml\n(.*?)```", text, re.S) if "[openai_calls]" in b]
    config = parse_config(tomllib.loads(textwrap.dedent(block)))
    settings = calls_settings(config, {"OPENAI_WEBHOOK_SECRET": SECRET, "OPENAI_API_KEY": "k"})
    assert settings.webhook_off is None and settings.instructions
    control = config.plugin_settings("call_control", CallControlSettings)
    assert control.enabled and control.transfer_targets
