"""The web console at GET /, in a real browser (Debian's Chromium through Playwright).

Each test serves the app in-process on loopback with the embedded simulator (no key), opens the
page, and checks what a person would see and what reached the wire. Screenshots of each state go
to the artefacts directory (`console_rig.artefacts()`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest

from mcp_voice.serve.settings import ServeSettings
from mcp_voice.session.settings import HostSettings
from tests.serve.calls_rig import calls_settings
from tests.serve.console_rig import (
    AXE,
    WAIT_MS,
    browser,
    connected,
    console_server,
    console_specs,
    eventually,
    say,
    screenshot,
    speech_wav,
    until,
)
from tests.serve.fake_openai import API_KEY, fake_openai

pytestmark = pytest.mark.anyio

KEY = "console-test-key-0123456789"


async def test_get_slash_serves_the_console_with_a_strict_csp_and_off_turns_it_off() -> None:
    async with console_server() as served, httpx2.AsyncClient() as client:
        page = await client.get(served.url + "/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
        host = served.url.removeprefix("http://")
        assert f"connect-src 'self' ws://{host}" in csp
        assert '<script type="module" src="/console/app.js">' in page.text
        assert "<script>" not in page.text  # no inline script: the CSP would refuse it
        module = await client.get(served.url + "/console/app.js")
        assert module.status_code == 200 and module.headers["content-type"].startswith("text/javascript")
        assert (await client.get(served.url + "/console/../app.py")).status_code == 404
        info = (await client.get(served.url + "/console/info.json")).json()
        assert info == {"auth": False, "upstream": "sim", "model": "gpt-realtime", "webrtc": False}
    async with console_server(ServeSettings(console=False)) as served, httpx2.AsyncClient() as client:
        assert (await client.get(served.url + "/")).status_code == 404
        assert (await client.get(served.url + "/console/app.js")).status_code == 404


def test_the_listening_lines_name_the_console_and_the_config_turns_it_off(tmp_path: Path) -> None:
    from mcp_voice.config import load_config
    from mcp_voice.serve.run import console_line, resolve_options

    assert console_line("127.0.0.1", 8765) == "  console: http://127.0.0.1:8765/"
    assert console_line("0.0.0.0", 443, tls=True) == "  console: https://127.0.0.1:443/"
    assert console_line("::1", 8765) == "  console: http://[::1]:8765/"
    path = tmp_path / "mcp-voice.toml"
    path.write_text("[serve]\nconsole = false\n")
    assert resolve_options(load_config(path), env={}).settings.console is False
    path.write_text("[serve]\nport = 9000\n")
    assert resolve_options(load_config(path), env={}).settings.console is True


async def test_a_typed_message_naming_a_tool_shows_its_card_with_the_result_and_images() -> None:
    async with console_server() as served:
        async with browser() as page:
            await page.goto(served.url + "/")
            await connected(page)
            await screenshot(page, "01-connected")
            await say(page, "what is the weather? ct__lookup city=Paris")
            card = page.locator('.card[data-status="completed"]:has-text("lookup")')
            await card.wait_for(timeout=WAIT_MS)
            assert "sunny in Paris, 21 degrees" in await card.inner_text()
            assert '"city": "Paris"' in await card.locator("pre").first.text_content()
            # the read-back is spoken and shown in the transcript
            await page.wait_for_selector('#transcript li.assistant:has-text("Tool result")', timeout=WAIT_MS)
            await say(page, "draw ct__chart title=sales")
            image = page.locator('.card:has-text("chart") img')
            await image.wait_for(timeout=WAIT_MS)
            assert (await image.get_attribute("src") or "").startswith("data:image/png;base64,")
            await until(page, "window.mcpConsole.stats.toolMs.length >= 2")
            await page.wait_for_timeout(1100)  # the figures refresh once a second
            figures = await page.inner_text("#figures")
            assert "Tool calls\n2" in figures.replace("\t", "\n")
            assert await page.evaluate("window.mcpConsole.stats.outputTokens") > 0
            await screenshot(page, "02-tool-result")
            assert not page.errors, page.errors  # type: ignore[attr-defined]


async def test_a_long_running_tool_shows_running_then_its_result() -> None:
    settings = ServeSettings(host=HostSettings(async_mode="deferred"))
    async with console_server(settings) as served:
        async with browser() as page:
            await page.goto(served.url + "/")
            await connected(page)
            await say(page, "ct__slow_report topic=power")
            card = page.locator('.card:has-text("slow_report")')
            await page.wait_for_selector('.card[data-status="running"]', timeout=WAIT_MS)
            assert "running" in await card.locator(".status").inner_text()
            await screenshot(page, "03-tool-running")
            await page.wait_for_selector('.card[data-status="completed"]', timeout=WAIT_MS)
            assert "all systems nominal" in await card.inner_text()
            await screenshot(page, "04-tool-done")


async def test_a_placeholder_long_running_call_gets_its_spoken_result() -> None:
    async with console_server() as served:
        async with browser() as page:
            await page.goto(served.url + "/")
            await connected(page)
            await say(page, "ct__slow_report topic=fuel")
            await page.wait_for_selector('.card[data-status="background"]', timeout=WAIT_MS)
            # the simulator speaks the placeholder (about 10 s of audio), then the result
            await page.wait_for_selector('.card[data-status="completed"]', timeout=3 * WAIT_MS)
            assert "report on fuel" in await page.locator(".card").inner_text()


async def test_approve_runs_the_call_and_deny_declines_it() -> None:
    async with console_server() as served:
        async with browser() as page:
            await page.goto(served.url + "/")
            await connected(page)
            await say(page, "ct__delete_note name=shopping")
            question = page.locator(".question")
            await question.wait_for(timeout=WAIT_MS)
            assert "delete_note" in await question.inner_text()
            await screenshot(page, "05-approval")
            # keyboard only: the Approve button has focus; Enter presses it
            await page.keyboard.press("Enter")
            await page.wait_for_selector('.card[data-status="completed"]', timeout=WAIT_MS)
            assert "deleted note shopping" in await page.locator('.card:has-text("delete_note")').inner_text()
            assert await question.get_attribute("data-answered") == "approve"
            await page.wait_for_selector('.question[data-confirmed="approved"]', timeout=WAIT_MS)

            await say(page, "ct__delete_note name=taxes")
            pending = page.locator(".question:not([data-answered])")
            await pending.wait_for(timeout=WAIT_MS)
            await pending.get_by_role("button", name="Deny").click()
            await page.wait_for_selector('.card[data-status="denied"]', timeout=WAIT_MS)


async def test_a_tool_question_arrives_as_a_form_and_url_mode_as_a_link(tmp_path: Path) -> None:
    """Questions are rendered from whatever `mcp_voice.*` event carries a schema or a URL."""
    async with console_server() as served:
        async with browser() as page:
            await page.goto(served.url + "/")
            await connected(page)
            sent: list[str] = []
            page.on("websocket", lambda ws: ws.on("framesent", lambda data: sent.append(str(data))))
            await page.reload()
            await connected(page)
            form_event = {
                "type": "mcp_voice.elicitation.requested",
                "elicitation_id": "elic_1",
                "tool": "book_table",
                "message": "How many people?",
                "requested_schema": {
                    "type": "object",
                    "properties": {"people": {"type": "integer", "title": "People"}},
                    "required": ["people"],
                },
            }
            url_event = {
                "type": "mcp_voice.elicitation.requested",
                "elicitation_id": "elic_2",
                "mode": "url",
                "message": "Sign in to continue",
                "url": "https://auth.example.com/login?state=abc",
            }
            await page.evaluate(
                "(events) => events.forEach(e => window.mcpConsole.conn.onEvent(e, 'in'))",
                [form_event, url_event],
            )
            link = page.get_by_role("link", name="Open auth.example.com")
            assert await link.get_attribute("href") == "https://auth.example.com/login?state=abc"
            assert await link.get_attribute("rel") == "noopener noreferrer"
            await page.get_by_label("People").fill("4")
            await screenshot(page, "06-question")
            await page.locator('.question:has-text("How many people") button[data-action="accept"]').click()

            async def answered() -> bool:
                return any("elic_1" in frame for frame in sent)

            await eventually(answered)
            answer = json.loads(next(frame for frame in sent if "elic_1" in frame))
            assert answer == {
                "type": "mcp_voice.elicitation.response",
                "elicitation_id": "elic_1",
                "action": "accept",
                "content": {"people": 4},
            }
            assert await page.locator('#log li[data-type="mcp_voice.elicitation.requested"]').count() == 2


async def test_with_keys_the_page_mints_a_secret_and_never_sends_the_key_to_the_socket() -> None:
    async with console_server(ServeSettings(api_keys=(KEY,))) as served:
        async with browser() as page:
            mints: list[dict[str, str]] = []
            page.on(
                "request",
                lambda r: mints.append(r.headers) if r.url.endswith("/v1/realtime/client_secrets") else None,
            )
            await page.goto(served.url + "/")
            await page.wait_for_selector("#key-form:not([hidden])")
            await screenshot(page, "07-key")
            await page.fill("#api-key", KEY)
            await page.press("#api-key", "Enter")
            await connected(page)
            assert await page.input_value("#api-key") == ""
            assert mints and mints[0]["authorization"] == f"Bearer {KEY}"
            first = served.handshakes.seen[-1]
            assert KEY not in json.dumps(first)
            secret = [p for p in first["subprotocols"] if p.startswith("openai-insecure-api-key.")]
            assert secret and secret[0].removeprefix("openai-insecure-api-key.").startswith("ek_")
            assert not await page.evaluate(
                "Object.keys(localStorage).length + Object.keys(sessionStorage).length"
            )

            # an expired secret is renewed on reconnect
            await page.evaluate(
                "() => { const c = window.mcpConsole.conn; c.secret.expires_at = Date.now(); c.ws.close(); }"
            )
            await until(page, "window.mcpConsole.conn.mints === 2")
            await connected(page)
            second = served.handshakes.seen[-1]
            assert second["subprotocols"] != first["subprotocols"] and KEY not in json.dumps(second)
            assert await page.evaluate("window.mcpConsole.stats.reconnects") == 1


async def test_webrtc_mode_posts_the_offer_to_serve_with_the_minted_secret() -> None:
    async with fake_openai() as fake:
        settings = ServeSettings(api_keys=(KEY,), calls=calls_settings(fake))
        async with console_server(settings) as served:
            async with browser() as page:
                posted: list[Any] = []
                page.on(
                    "request", lambda r: posted.append(r) if r.url.endswith("/v1/realtime/calls") else None
                )
                await page.goto(served.url + "/")
                await page.fill("#api-key", KEY)
                await page.press("#api-key", "Enter")
                await connected(page)
                await page.click("#disconnect")
                await page.select_option("#transport", "webrtc")
                await page.click("#connect")
                create = await fake.wait_request("create")
                assert create.headers["authorization"] == f"Bearer {API_KEY}"  # serve's key, upstream only
                assert create.body["sdp"].startswith("v=0")

                async def offered() -> bool:  # Playwright's events come on their own channel
                    return bool(posted)

                await eventually(offered)
                auth = posted[0].headers["authorization"]
                assert auth.startswith("Bearer ek_") and KEY not in auth and API_KEY not in auth
                assert posted[0].post_data == create.body["sdp"]
                shown = await page.content() + json.dumps(await page.evaluate("window.mcpConsole.stats"))
                assert API_KEY not in shown  # the upstream key never reaches the page


async def test_accessible_and_usable_at_390_px() -> None:
    async with console_server() as served:
        async with browser(bypass_csp=True, width=390, height=844) as page:
            await page.goto(served.url + "/")
            await connected(page)
            await say(page, "ct__delete_note name=a11y")
            await page.locator(".question").wait_for(timeout=WAIT_MS)
            await page.add_script_tag(path=str(AXE))
            result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
            bad = [
                (v["id"], v["impact"], v["help"])
                for v in result["violations"]
                if v["impact"] in ("serious", "critical")
            ]
            assert not bad, bad
            assert await page.evaluate("document.documentElement.scrollWidth") <= 390
            # every control is labelled and reachable from the keyboard
            unlabelled = await page.evaluate(
                """() => [...document.querySelectorAll('button, input, select, textarea')]
                    .filter(e => !e.labels?.length && !e.getAttribute('aria-label') && !e.textContent.trim())
                    .map(e => e.id || e.outerHTML)"""
            )
            assert not unlabelled, unlabelled
            assert await page.locator("#announcer[aria-live=polite]").count() == 1
            await screenshot(page, "08-narrow")


async def test_speech_triggers_vad_a_reply_plays_and_barge_in_truncates_at_what_was_played(
    tmp_path: Path,
) -> None:
    wav = speech_wav(tmp_path / "speech.wav")
    settings = ServeSettings(event_log_dir=str(tmp_path / "log"))
    async with console_server(settings, specs=console_specs()) as served:
        async with browser(wav) as page:
            await page.goto(served.url + "/")
            await connected(page)
            await page.click("#mic")
            await until(page, "window.mcpConsole.stats.playedSamples > 0")
            await screenshot(page, "09-speaking")
            await until(page, "window.mcpConsole.stats.truncations.length > 0")
            truncation = await page.evaluate("window.mcpConsole.stats.truncations[0]")
            played = await page.evaluate(
                f"window.mcpConsole.player.played.get({json.dumps(truncation['itemId'])})"
            )
            assert await page.locator("#transcript li.user").count() >= 1
            assert float(await page.get_attribute("#level", "value") or 0) >= 0

        async def truncations() -> list[dict[str, Any]]:
            return [e for e in served.upstream_events() if e["type"] == "conversation.item.truncate"]

        sent = await eventually(truncations)
        assert sent[0]["item_id"] == truncation["itemId"]
        assert abs(sent[0]["audio_end_ms"] - played * 1000 / 24000) <= 60
        assert 0 < sent[0]["audio_end_ms"]


async def test_push_to_talk_sends_audio_only_while_held_and_settings_reach_the_upstream(
    tmp_path: Path,
) -> None:
    wav = speech_wav(tmp_path / "speech.wav", silence_s=0.2)  # speech nearly all the time
    settings = ServeSettings(event_log_dir=str(tmp_path / "log"))
    async with console_server(settings) as served, browser(wav) as page:
        await page.goto(served.url + "/")
        await connected(page)
        await page.select_option("#turn", "none")
        await page.fill("#instructions", "Be brief.")
        await page.get_by_role("button", name="Apply settings").click()

        async def applied() -> list[dict[str, Any]]:
            return [
                e
                for e in served.upstream_events()
                if e["type"] == "session.update" and e["session"].get("instructions") == "Be brief."
            ]

        update = (await eventually(applied))[0]["session"]
        assert update["audio"]["input"]["turn_detection"] is None
        await page.click("#mic")
        await until(page, "!document.getElementById('ptt').disabled")
        await page.wait_for_timeout(1000)
        assert await page.evaluate("window.mcpConsole.stats.framesSent") == 0  # not held: nothing sent
        await page.focus("#ptt")
        await page.keyboard.down(" ")
        await page.wait_for_timeout(1200)
        await page.keyboard.up(" ")
        held = await page.evaluate("window.mcpConsole.stats.framesSent")
        assert 30 <= held <= 90  # about 60 frames of 20 ms
        await until(page, "window.mcpConsole.stats.playedSamples > 0")
        await page.wait_for_timeout(500)
        assert await page.evaluate("window.mcpConsole.stats.framesSent") == held
        await page.wait_for_selector('#transcript li.assistant:has-text("I heard you speak for")')
        sent = [e["type"] for e in served.upstream_events()]
        assert "input_audio_buffer.commit" in sent
        assert not [e for e in await page.evaluate("window.mcpConsole.stats.errors")]
