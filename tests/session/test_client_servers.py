"""Client-named MCP servers are safe by default: an allow-list, no internal addresses unless named,
no client headers unless allowed, one "could not connect" for every failure, never a stalled
session, and a client's allow-lists narrowing the host's own servers too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import pytest
from anyio.abc import SocketStream

from mcp_voice.session import HostSettings
from mcp_voice.tools.client_urls import ClientServerPolicy, UrlRefused
from mcp_voice.tools.registry import ToolRegistry
from tests.session.wire import ev, function_call_item, open_session

pytestmark = pytest.mark.anyio


def names(update: dict) -> list[str]:
    return [t.get("name") or t.get("server_label") for t in update["session"]["tools"]]


async def update(s, tools: list, event_id: str = "evt_u") -> dict:  # type: ignore[no-untyped-def]
    await s.send(
        {"type": "session.update", "event_id": event_id, "session": {"type": "realtime", "tools": tools}}
    )
    return await s.upstream("session.update")


@dataclass
class Listener:
    """A loopback TCP port that records what arrives: closes at once, never answers, or answers HTML."""

    mode: str
    port: int = 0
    requests: list[bytes] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/admin/delete?all=1"

    async def handle(self, stream: SocketStream) -> None:
        async with stream:
            if self.mode == "close":
                self.requests.append(b"")
                return
            data = b""
            with anyio.move_on_after(2):
                while b"\r\n\r\n" not in data:
                    data += await stream.receive()
            self.requests.append(data)
            if self.mode == "hang":
                await anyio.sleep_forever()
            body = b"<html>admin</html>"
            await stream.send(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: %d\r\n\r\n%s"
                % (len(body), body)
            )


@asynccontextmanager
async def listening(mode: str) -> AsyncIterator[Listener]:
    listener = Listener(mode)
    tcp = await anyio.create_tcp_listener(local_host="127.0.0.1")
    listener.port = tcp.extra(anyio.abc.SocketAttribute.local_port)
    async with anyio.create_task_group() as tg:
        tg.start_soon(tcp.serve, listener.handle)
        try:
            yield listener
        finally:
            tg.cancel_scope.cancel()


async def test_by_default_a_client_can_name_only_the_hosts_servers(registry: ToolRegistry) -> None:
    async with (
        listening("html") as target,
        open_session(registry, HostSettings(register_plugin_tools=False)) as s,
    ):
        await s.upstream("session.update")
        entry = {"type": "mcp_server", "name": "admin", "server_url": target.url, "headers": {"X-Admin": "1"}}
        sent = await update(s, [entry])
        assert names(sent) == []
        error = (await s.received("error"))["error"]
        assert "only to its own servers" in error["message"] and error["event_id"] == "evt_u"
    assert target.requests == []  # not one byte went out


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/mcp",
        "http://localhost:8080/mcp",
        "http://[::1]:8080/mcp",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.5/mcp",
        "http://192.168.1.1/mcp",
        "http://[::ffff:127.0.0.1]/mcp",
    ],
)
def test_internal_addresses_need_a_pattern_naming_them(url: str) -> None:
    with pytest.raises(UrlRefused, match="unless client_server_urls names the host"):
        ClientServerPolicy(["http://**/**"]).check(url)
    origin = url.split("/")[2]
    ClientServerPolicy([f"http://{origin}/**"]).check(url)


def test_patterns_are_an_allow_list() -> None:
    policy = ClientServerPolicy(["https://mcp.example.com/*"], ["https://mcp.example.com/private/*"])
    policy.check("https://MCP.example.com/tools")
    for bad in ("https://evil.example.com/", "http://mcp.example.com/x", "https://u:p@mcp.example.com/x"):
        with pytest.raises(UrlRefused):
            policy.check(bad)
    assert policy.passes_headers("https://mcp.example.com/private/a")
    assert not policy.passes_headers("https://mcp.example.com/tools")


@pytest.mark.parametrize(
    ("pattern", "url", "allowed"),
    [
        ("https://*.example.com/*", "https://mcp.example.com/tools", True),
        ("https://*.example.com/*", "https://attacker.net/x.example.com/mcp", False),
        ("https://*.example.com/*", "https://a.b.example.com/mcp", False),
        ("https://*.example.com/*", "https://mcp.example.com/a/b", False),
        ("https://*.example.com/*", "https://mcp.example.com.attacker.net/x", False),
        ("https://*.example.com/*", "https://attacker.net?.example.com/x", False),
        ("https://*.example.com/*", "https://attacker.net#.example.com/x", False),
        ("https://*.example.com/*", "https://attacker.net\\.example.com/x", False),
        ("https://*.example.com/*", "https://attacker.net:1.example.com/x", False),
        ("https://**.example.com/*", "https://a.b.example.com/mcp", True),
        ("https://**.example.com/*", "https://attacker.net/.example.com/mcp", False),
        ("https://mcp.example.com/**", "https://mcp.example.com/v1/tools?x=/y", True),
        ("https://mcp.example.com/v?/mcp", "https://mcp.example.com/v2/mcp", True),
        ("https://mcp.example.com/v?/mcp", "https://mcp.example.com/v//mcp", False),
        ("https://mcp.example.com:*/mcp", "https://mcp.example.com:8443/mcp", True),
        ("https://mcp.example.com:*/mcp", "https://mcp.example.com:8443.attacker.net/mcp", False),
    ],
)
def test_a_star_matches_within_one_host_label_or_path_segment(pattern: str, url: str, allowed: bool) -> None:
    policy = ClientServerPolicy([pattern])
    if allowed:
        policy.check(url)
    else:
        with pytest.raises(UrlRefused, match="not in this host's client_server_urls"):
            policy.check(url)


async def test_a_url_that_only_a_slash_matching_star_would_admit_is_refused_in_a_session(
    registry: ToolRegistry,
) -> None:
    """At the host: the issue's shape gets an `error` and no connection is tried."""
    async with listening("html") as target:
        settings = HostSettings(register_plugin_tools=False, client_server_urls=("http://*.example.com/*",))
        async with open_session(registry, settings) as s:
            await s.upstream("session.update")
            url = f"http://127.0.0.1:{target.port}/x.example.com/mcp"
            sent = await update(s, [{"type": "mcp_server", "name": "sneaky", "server_url": url}])
            assert names(sent) == []
            error = (await s.received("error"))["error"]
            assert "not in this host's client_server_urls" in error["message"], error
            assert (error["event_id"], error["param"]) == ("evt_u", "session.tools")
    assert target.requests == []


async def test_failures_all_read_could_not_connect_and_the_session_goes_on(registry: ToolRegistry) -> None:
    settings = HostSettings(
        register_plugin_tools=False,
        client_server_urls=("http://127.0.0.1:*/**",),
        client_server_timeout_s=1.0,
    )
    async with listening("hang") as hang, listening("html") as html, listening("close") as closed:
        async with open_session(registry, settings) as s:
            await s.upstream("session.update")
            entries = [
                {"type": "mcp_server", "name": name, "server_url": where.url, "headers": {"X-Admin": "yes"}}
                for name, where in (("hang", hang), ("html", html), ("closed", closed))
            ]
            sent = await update(s, entries)
            assert names(sent) == []
            # while three connections are pending, the session carries on at once
            item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
            await s.send({"type": "conversation.item.create", "event_id": "evt_c", "item": item})
            assert (await s.upstream("conversation.item.create"))["item"]["content"][0]["text"] == "hi"
            messages = sorted([(await s.received("error"))["error"]["message"] for _ in range(3)])
        assert messages == [f"mcp_server {n!r}: could not connect" for n in ("closed", "hang", "html")]
    assert hang.requests and html.requests
    for request in hang.requests + html.requests:
        assert b"x-admin" not in request.lower()  # the client's headers were not allowed here
    assert not any(name in registry.servers for name in ("hang", "html", "closed"))


async def test_headers_pass_only_where_allowed(registry: ToolRegistry) -> None:
    async with listening("html") as target:
        allowed = (f"http://127.0.0.1:{target.port}/**",)
        settings = HostSettings(
            register_plugin_tools=False,
            client_server_urls=allowed,
            client_server_headers=allowed,
            client_server_timeout_s=1.0,
        )
        async with open_session(registry, settings) as s:
            await s.upstream("session.update")
            entry = {
                "type": "mcp_server",
                "name": "mine",
                "server_url": target.url,
                "headers": {"X-Admin": "yes"},
            }
            await update(s, [entry])
            assert (await s.received("error"))["error"]["message"] == "mcp_server 'mine': could not connect"
    assert any(b"x-admin: yes" in r.lower() for r in target.requests)


async def test_a_clients_allow_lists_narrow_auto_registered_tools(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:  # every host tool auto-registered
        everything = names(await s.upstream("session.update"))
        assert "extra__hello" in everything and "extra__bye" in everything
        seed = {
            "type": "mcp_server",
            "name": "extra",
            "server_url": "ws://localhost:8765",
            "tools": ["hello"],
        }
        sent = names(await update(s, [seed]))
        assert "extra__hello" in sent and "extra__bye" not in sent
        assert "voice__add" in sent  # servers the client did not name are untouched
        ga = {"type": "mcp", "server_label": "extra", "allowed_tools": ["bye"], "require_approval": "always"}
        sent = names(await update(s, [ga], "evt_v"))
        assert "extra__bye" in sent and "extra__hello" not in sent
        assert s.host.tools.lookup("extra__bye").policy.approval is True
        # the model calling a tool the client left out gets nothing run
        assert s.host.tools.lookup("extra__hello") is None
        item = function_call_item("extra__hello", "{}")
        await s.play(ev("response.created", response={"id": "resp_x", "status": "in_progress", "output": []}))
        await s.play(ev("response.output_item.done", response_id="resp_x", output_index=0, item=item))
        await s.play(ev("response.done", response={"id": "resp_x", "status": "completed", "output": [item]}))
        with anyio.move_on_after(0.5):
            while True:
                event = await s.upstream()
                assert event.get("item", {}).get("type") != "function_call_output", event
