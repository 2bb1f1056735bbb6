"""Tool registration: auto, client mcp_server / mcp entries, echoes, registry changes."""

from __future__ import annotations

import json

import pytest

from mcp_voice.session import HostSettings
from mcp_voice.tools.registry import ToolRegistry
from mcp_voice.tools.spec import ServerSpec
from tests.session.servers import build_extra_server
from tests.session.wire import ev, function_call_item, open_session

pytestmark = pytest.mark.anyio
OFF = HostSettings(register_plugin_tools=False)
MINE = {"type": "function", "name": "get_time", "description": "Time.", "parameters": {"type": "object"}}


def names(update: dict) -> list[str]:
    return [t.get("name") or t.get("server_label") for t in update["session"]["tools"]]


async def update(s, tools: list, event_id: str = "evt_u") -> dict:
    await s.send(
        {"type": "session.update", "event_id": event_id, "session": {"type": "realtime", "tools": tools}}
    )
    return await s.upstream("session.update")


async def test_opt_in_with_mcp_server_entry(registry: ToolRegistry) -> None:
    async with open_session(registry, OFF) as s:
        assert (await s.upstream("session.update"))["session"]["tools"] == []
        entry = {
            "type": "mcp_server",
            "name": "extra",
            "server_url": "ws://localhost:8765",
            "tools": ["hello"],
        }
        sent = await update(s, [entry, MINE])
        assert names(sent) == ["extra__hello", "get_time"]
        # the echo shows the client its own list, never host tools, in a GA-valid shape
        await s.play(ev("session.updated", session={"type": "realtime", **sent["session"]}))
        echo = await s.received("session.updated")
        shown = echo["session"]["tools"]
        assert shown == [
            {
                "type": "mcp",
                "server_label": "extra",
                "server_url": "ws://localhost:8765",
                "allowed_tools": ["hello"],
            },
            MINE,
        ]


async def test_ga_mcp_entry_expanded_or_passed_through(registry: ToolRegistry) -> None:
    async with open_session(registry, OFF) as s:
        await s.upstream("session.update")
        ours = {
            "type": "mcp",
            "server_label": "extra",
            "allowed_tools": ["bye"],
            "require_approval": "always",
        }
        theirs = {"type": "mcp", "server_label": "deepwiki", "server_url": "https://mcp.deepwiki.com/mcp"}
        sent = await update(s, [ours, theirs])
        assert names(sent) == ["extra__bye", "deepwiki"]
        assert s.host.tools.lookup("extra__bye").policy.approval is True  # require_approval honoured


async def test_client_update_keeps_host_tools(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        sent = await update(s, [MINE])
        assert "voice__add" in names(sent) and "get_time" in names(sent)
        await s.send(
            {"type": "session.update", "event_id": "evt_i", "session": {"instructions": "Be brief."}}
        )
        plain = await s.upstream("session.update")
        assert plain["session"] == {"instructions": "Be brief.", "type": "realtime"}


async def test_session_created_hides_host_tools(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:
        tools = (await s.upstream("session.update"))["session"]["tools"]
        await s.play(
            ev("session.created", session={"type": "realtime", "model": "gpt-realtime", "tools": tools})
        )
        created = await s.received("session.created")
        assert created["session"]["tools"] == []


async def test_unknown_ws_server_is_an_error_and_the_session_goes_on(registry: ToolRegistry) -> None:
    async with open_session(registry, OFF) as s:
        await s.upstream("session.update")
        entry = {"type": "mcp_server", "name": "nowhere", "server_url": "ws://localhost:1"}
        sent = await update(s, [entry, MINE])
        assert names(sent) == ["get_time"]
        error = await s.received("error")
        assert error["error"]["event_id"] == "evt_u" and error["error"]["param"] == "session.tools"


async def test_unreachable_http_server_is_an_error(registry: ToolRegistry) -> None:
    settings = HostSettings(
        register_plugin_tools=False, client_server_urls=("http://127.0.0.1:9/*",), client_server_timeout_s=1
    )
    async with open_session(registry, settings) as s:
        await s.upstream("session.update")
        entry = {"type": "mcp_server", "name": "gone", "server_url": "http://127.0.0.1:9/mcp"}
        sent = await update(s, [entry])
        assert names(sent) == []
        assert (await s.received("error"))["error"]["message"] == "mcp_server 'gone': could not connect"
        assert "gone" not in registry.servers


async def test_registry_change_resends_tools(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        await registry.add_server(ServerSpec(name="late", target=build_extra_server()))
        resent = await s.upstream("session.update")
        assert "late__hello" in names(resent)
        await registry.remove_server("late")
        assert "late__hello" not in names(await s.upstream("session.update"))


async def test_client_server_urls_can_be_switched_off(registry: ToolRegistry, http_sample: str) -> None:
    """With allow_client_servers off, a client cannot make the host connect anywhere."""
    settings = HostSettings(register_plugin_tools=False, allow_client_servers=False)
    async with open_session(registry, settings) as s:
        await s.upstream("session.update")
        entry = {"type": "mcp_server", "name": "remote", "server_url": http_sample}
        sent = await update(s, [entry, MINE])
        assert names(sent) == ["get_time"]
        error = (await s.received("error"))["error"]
        assert error["event_id"] == "evt_u" and "allow_client_servers is off" in error["message"]
        assert "remote" not in registry.servers


async def test_unknown_http_server_is_connected_and_its_tool_runs_in_the_host(
    registry: ToolRegistry, http_sample: str
) -> None:
    """A real streamable-HTTP MCP server (another process), named by a client `mcp_server` entry."""
    allowed = ("http://127.0.0.1:*/mcp",)
    settings = HostSettings(
        register_plugin_tools=False, client_server_urls=allowed, client_server_headers=allowed
    )
    async with open_session(registry, settings) as s:
        await s.upstream("session.update")
        entry = {
            "type": "mcp_server",
            "name": "remote",
            "server_url": http_sample,
            "headers": {"Authorization": "Bearer sekrit"},
            "tools": ["echo", "add"],
        }
        sent = await update(s, [entry, MINE])
        while "remote__add" not in names(sent):  # connected in the background, then sent again
            sent = await s.upstream("session.update")
        assert sorted(names(sent)) == ["get_time", "remote__add", "remote__echo"]  # allow-list honoured
        assert "remote" in registry.servers  # connected for this session
        item = function_call_item("remote__add", '{"a": 20, "b": 22}')
        rid = await s.respond(item, done=False)
        output = await s.upstream_item()
        assert output == {
            "type": "function_call_output",
            "id": output["id"],
            "call_id": item["call_id"],
            "output": "42",
        }
        await s.done(rid, item)
        await s.upstream("response.create")
        shown = [
            e
            for e in await s.received_until("conversation.item.done")
            if e["type"].startswith("conversation")
        ]
        assert shown[-1]["item"]["type"] == "mcp_call" and shown[-1]["item"]["server_label"] == "remote"
        await s.respond()
        # dropping the entry disconnects the server; its tools leave the model's list
        assert names(await update(s, [MINE], "evt_v")) == ["get_time"]
        assert "remote" not in registry.servers
        assert "Bearer sekrit" not in json.dumps(s.sent("upstream"))  # the MCP header stays in the host


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "mcp_server", "name": "extra", "tools": 5},
        {"type": "mcp_server", "name": "extra", "tools": [["hello"]]},
        {"type": "mcp", "server_label": "extra", "allowed_tools": [{"name": 1}]},
        {"type": "mcp", "server_label": "extra", "allowed_tools": {"tool_names": 7}},
        {"type": "mcp", "server_label": "extra", "require_approval": {"always": {"tool_names": 3}}},
    ],
)
async def test_malformed_tool_filters_are_errors_and_the_session_goes_on(
    registry: ToolRegistry, bad: dict
) -> None:
    """A client's odd `tools` / `allowed_tools` shape is answered with an error, never a crash."""
    async with open_session(registry, OFF) as s:
        await s.upstream("session.update")
        sent = await update(s, [bad, MINE])
        assert names(sent) == ["get_time"]
        error = (await s.received("error"))["error"]
        assert error["event_id"] == "evt_u" and error["param"] == "session.tools"
        if bad["type"] == "mcp_server":  # shown in GA form (a bad GA `mcp` entry is echoed as sent)
            await s.play(ev("session.updated", session={"type": "realtime", **sent["session"]}))
            echo = await s.received("session.updated")
            assert echo["session"]["tools"] == [{"type": "mcp", "server_label": "extra"}, MINE]
        assert names(await update(s, [MINE], event_id="evt_v")) == ["get_time"]
