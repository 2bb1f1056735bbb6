"""`POST /twilio/voice` and the media upgrade: TwiML for signed requests, 403 and nothing else otherwise."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from typing import Any

import anyio
import pytest
import websockets
from conftest import read_all, serve_process, serving
from twilio_wire import AUTH_TOKEN, PUBLIC_URL, call, scripted_upstream, twilio_signature

from mcp_voice.config import Config, TwilioConfig
from mcp_voice.serve.run import resolve_options
from mcp_voice.serve.settings import ServeSettings
from mcp_voice.serve.twilio.settings import TwilioConfigError, TwilioSettings, startup_notes

pytestmark = pytest.mark.anyio

FORM = {
    "CallSid": "CA123",
    "AccountSid": "AC123",
    "From": "+15550100",
    "To": "+15550199",
    "Direction": "inbound",
    "CallStatus": "ringing",
}
VOICE_URL = PUBLIC_URL + "/twilio/voice"


async def post(
    where: str, form: dict[str, str], headers: dict[str, str], query: str = ""
) -> tuple[int, str, str]:
    """POST a form like Twilio does: status, content type, body."""

    def send() -> tuple[int, str, str]:
        url = f"http://{where}/twilio/voice" + (f"?{query}" if query else "")
        body = urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status, response.headers["content-type"], response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers["content-type"], exc.read().decode()

    return await anyio.to_thread.run_sync(send)


def phone_settings(token: str | None = AUTH_TOKEN, upstream: str = "sim") -> ServeSettings:
    return ServeSettings(upstream=upstream, twilio=TwilioSettings(public_url=PUBLIC_URL, auth_token=token))


async def test_signed_webhook_gets_twiml_that_streams_the_call_here(registry: Any) -> None:
    async with serving(registry, phone_settings()) as where:
        headers = {"X-Twilio-Signature": twilio_signature(AUTH_TOKEN, VOICE_URL, FORM)}
        status, kind, body = await post(where, FORM, headers)
    assert status == 200 and kind.startswith("application/xml")
    root = ET.fromstring(body)
    assert root.tag == "Response"
    [connect] = list(root)
    [stream] = list(connect)
    assert (connect.tag, stream.tag) == ("Connect", "Stream")
    assert stream.get("url") == "wss://phone.example.test/twilio/media"
    parameters = {p.get("name"): p.get("value") for p in stream}
    assert parameters == {"From": "+15550100", "To": "+15550199", "Direction": "inbound"}


async def test_signature_covers_the_query_string(registry: Any) -> None:
    async with serving(registry, phone_settings()) as where:
        signed = twilio_signature(AUTH_TOKEN, VOICE_URL + "?line=sales", FORM)
        assert (await post(where, FORM, {"X-Twilio-Signature": signed}, query="line=sales"))[0] == 200
        assert (await post(where, FORM, {"X-Twilio-Signature": signed}))[0] == 403


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Twilio-Signature": "not-a-signature"},
        {"X-Twilio-Signature": twilio_signature("someone-elses-token", VOICE_URL, FORM)},
        {"X-Twilio-Signature": twilio_signature(AUTH_TOKEN, "https://elsewhere.test/twilio/voice", FORM)},
        {"X-Twilio-Signature": twilio_signature(AUTH_TOKEN, VOICE_URL, {**FORM, "From": "+15550666"})},
    ],
    ids=["missing", "garbage", "wrong-token", "wrong-url", "tampered-form"],
)
async def test_unsigned_or_badly_signed_webhook_gets_403_and_no_twiml(registry: Any, headers: Any) -> None:
    async with serving(registry, phone_settings()) as where:
        status, _, body = await post(where, FORM, headers)
    assert status == 403
    assert "<Response" not in body and "twilio/media" not in body and "phone.example.test" not in body


async def test_without_a_token_webhooks_are_answered_and_serve_warns(registry: Any) -> None:
    async with serving(registry, phone_settings(token=None)) as where:
        status, _, body = await post(where, FORM, {})
    assert status == 200 and "<Stream" in body
    notes = startup_notes(TwilioSettings(public_url=PUBLIC_URL))
    assert any(n.startswith("WARNING: Twilio webhooks are NOT verified") for n in notes)
    assert not any("WARNING" in n for n in startup_notes(TwilioSettings(PUBLIC_URL, auth_token="t")))


async def test_media_upgrade_needs_a_valid_signature(registry: Any) -> None:
    async with (
        scripted_upstream() as upstream,
        serving(registry, phone_settings(upstream=upstream.url)) as where,
    ):
        for headers in ({}, {"X-Twilio-Signature": twilio_signature(AUTH_TOKEN, VOICE_URL)}):
            with pytest.raises(websockets.InvalidStatus) as refused:
                async with call(where, headers=headers):
                    pass
            assert refused.value.response.status_code == 403
        assert upstream.ws is None  # nothing was opened upstream for a refused stream
        signed = {"X-Twilio-Signature": twilio_signature(AUTH_TOKEN, "wss://phone.example.test/twilio/media")}
        async with call(where, headers=signed) as caller:
            await caller.start()
            with anyio.fail_after(10):
                await upstream.connected.wait()


async def test_without_a_public_url_the_webhook_says_calls_are_off(registry: Any) -> None:
    async with serving(registry, ServeSettings(upstream="sim")) as where:
        status, _, body = await post(where, FORM, {})
        with pytest.raises(websockets.InvalidStatus):
            async with call(where):
                pass
    assert status == 503 and "--public-url" in body and "<Response" not in body


def test_public_url_from_flag_or_config_and_token_from_env() -> None:
    env = {"TWILIO_AUTH_TOKEN": "secret-token"}
    assert resolve_options(Config(), env=env).settings.twilio is None
    options = resolve_options(Config(), env=env, public_url="https://a.example/")
    assert options.settings.twilio == TwilioSettings("https://a.example", auth_token="secret-token")
    assert "secret-token" not in repr(options.settings)
    config = Config(twilio=TwilioConfig(public_url="https://b.example/base", auth_token_env="MY_TOKEN"))
    twilio = resolve_options(config, env={"MY_TOKEN": "x"}).settings.twilio
    assert twilio is not None and twilio.auth_token == "x"
    assert twilio.media_url == "wss://b.example/base/twilio/media"
    with pytest.raises(TwilioConfigError, match="MY_TOKEN"):
        resolve_options(config, env={})
    with pytest.raises(TwilioConfigError, match="https://HOST"):
        resolve_options(Config(), env={}, public_url="phone.example.test")


def test_the_twilio_table_in_a_config_file(tmp_path: Any) -> None:
    from mcp_voice.config import ConfigError, load_config

    path = tmp_path / "mcp-voice.toml"
    path.write_text('[twilio]\npublic_url = "https://phone.example.test"\ngreeting = "Say hello."\n')
    twilio = resolve_options(load_config(path), env={}).settings.twilio
    assert twilio == TwilioSettings(PUBLIC_URL, auth_token=None, greeting="Say hello.")
    path.write_text('[twilio]\npublic_uri = "https://phone.example.test"\n')
    with pytest.raises(ConfigError, match="public_uri"):
        load_config(path)


async def test_serve_refuses_a_public_url_that_is_not_one(tmp_path: Any) -> None:
    async with serve_process("--port", "0", "--upstream", "sim", "--public-url", "phone.example.test") as (
        proc,
        line,
    ):
        err = await read_all(proc.stderr)
        with anyio.fail_after(30):
            code = await proc.wait()
    assert code != 0 and line == ""
    assert "public URL must look like https://HOST" in err
