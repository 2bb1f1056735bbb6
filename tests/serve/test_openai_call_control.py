"""The call_control plugin on a real call: the model transfers (SIP REFER) and hangs up, at the wire."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from mcp_voice.api import load_tools
from mcp_voice.config import Config, parse_config
from tests.serve.calls_rig import WAIT_S, attached, rig
from tests.serve.fake_openai import API_KEY, FakeOpenAI

pytestmark = pytest.mark.anyio

TARGETS = {"sales": "tel:+15550123", "desk": "sip:desk@example.com"}


@pytest.fixture(autouse=True)
def openai_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)


def control(**extra: Any) -> Any:
    def config(fake: FakeOpenAI) -> Config:
        table = {"enabled": True, "transfer_targets": TARGETS, "base_url": fake.rest_base, **extra}
        return parse_config({"plugins": {"call_control": table}})

    return config


async def test_transfer_refers_the_call_when_approvals_are_automatic() -> None:
    async with rig(config=control(), plugins=("call_control",), approval="auto") as r:
        call = await attached(r, "rtc_xfer")
        accept = r.fake.requests_for("accept")[0]
        transfer = next(t for t in accept.body["tools"] if t["name"] == "call__transfer")
        assert transfer["parameters"]["properties"]["target"]["enum"] == ["desk", "sales"]
        item = await call.call_tool("call__transfer", {"target": "sales"})
        output = await call.output_for(item["call_id"])
        assert "transferred to sales" in output
        refer = await r.fake.wait_request("refer")
        assert refer.call_id == "rtc_xfer" and refer.body == {"target_uri": "tel:+15550123"}


async def test_transfer_needs_approval_and_calls_refuse_it_by_default() -> None:
    async with rig(config=control(), plugins=("call_control",)) as r:
        call = await attached(r, "rtc_noxfer")
        item = await call.call_tool("call__transfer", {"target": "sales"})
        output = await call.output_for(item["call_id"])
        assert "declined" in output
        assert not r.fake.requests_for("refer")


async def test_transfer_without_approval_by_configuration() -> None:
    config = control(transfer_needs_approval=False)
    async with rig(config=config, plugins=("call_control",)) as r:  # approvals refused, none needed
        call = await attached(r, "rtc_free")
        item = await call.call_tool("call__transfer", {"target": "desk"})
        await call.output_for(item["call_id"])
        refer = await r.fake.wait_request("refer")
        assert refer.body == {"target_uri": "sip:desk@example.com"}


async def test_an_unlisted_target_is_refused_without_a_request() -> None:
    async with rig(config=control(transfer_needs_approval=False), plugins=("call_control",)) as r:
        call = await attached(r, "rtc_unlisted")
        item = await call.call_tool("call__transfer", {"target": "tel:+19005550000"})
        output = json.loads(await call.output_for(item["call_id"]))
        assert output["error"]["kind"] in ("tool_error", "bad_arguments"), output
        assert not r.fake.requests_for("refer")


async def test_hang_up_ends_the_call_and_the_session() -> None:
    async with rig(config=control(), plugins=("call_control",)) as r:
        call = await attached(r, "rtc_bye")
        await call.call_tool("call__hang_up")
        hangup = await r.fake.wait_request("hangup")
        assert hangup.call_id == "rtc_bye" and hangup.headers["authorization"] == f"Bearer {API_KEY}"
        with anyio.fail_after(WAIT_S):
            await r.watcher.gone.wait()
        [(context, _)] = r.watcher.ended
        assert context.call_id == "rtc_bye"


async def test_the_plugin_does_nothing_unless_enabled() -> None:
    setup = load_tools(Config(), plugins=["call_control"])
    assert not setup.errors and not setup.specs
    bad = parse_config(
        {"plugins": {"call_control": {"enabled": True, "transfer_targets": {"x": "http://a"}}}}
    )
    errors = load_tools(bad, plugins=["call_control"]).errors
    assert "plugins.call_control.transfer_targets" in errors["call_control"]


async def test_outside_an_openai_call_the_tools_say_so() -> None:
    config = parse_config({"plugins": {"call_control": {"enabled": True}}})
    async with load_tools(config, plugins=["call_control"]).registry() as registry:
        result = await registry.call("call__hang_up", {})
        assert result.is_error and "not an OpenAI" in result.output
        assert registry.get("call__transfer") is None  # no targets configured: no transfer tool
