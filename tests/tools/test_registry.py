"""The registry over a real in-process MCP server: listing, calls, failures, policies, changes."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator

import anyio
import anyio.lowlevel
import mcp.types as types
import pytest
from mcp import StdioServerParameters
from mcp.server import MCPServer
from mcp.server.mcpserver import Context

from mcp_voice.tools import ServerSpec, ServerUnavailable, ToolEvent, ToolPolicy, ToolRegistry
from tests.tools.servers.sample import Probe, build_server

pytestmark = pytest.mark.anyio


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
def events() -> list[ToolEvent]:
    return []


@pytest.fixture
async def registry(probe: Probe, events: list[ToolEvent]) -> AsyncIterator[ToolRegistry]:
    async with ToolRegistry([ServerSpec("sample", build_server(probe))], on_event=events.append) as reg:
        yield reg


def error_of(output: str) -> dict[str, str]:
    return json.loads(output)["error"]


async def test_tools_are_exposed_as_realtime_function_tools(registry: ToolRegistry) -> None:
    names = [tool.name for tool in registry.tools()]
    assert names[:3] == ["sample__echo", "sample__add", "sample__fail"]  # the server's order
    echo = registry.get("sample__echo")
    assert echo is not None and echo.tool_name == "echo" and echo.server == "sample"
    assert echo.function_tool() == {
        "type": "function",
        "name": "sample__echo",
        "description": "Echo the text back.",
        "parameters": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    }
    assert registry.function_tools() == [tool.function_tool() for tool in registry.tools()]
    assert registry.tools(["other"]) == []
    address = registry.get("sample__address")
    assert address is not None
    street = address.parameters["properties"]["to"]["properties"]["street"]
    assert street == {"type": "string", "description": "Street and number"}
    dotted = next(t for t in registry.tools() if t.tool_name == "dotted.name")
    assert dotted.name.startswith("sample__dotted_name_")


async def test_call_returns_structured_output(registry: ToolRegistry, events: list[ToolEvent]) -> None:
    result = await registry.call("sample__add", {"a": 2, "b": 40}, call_id="c1")
    assert not result.is_error
    assert result.output == "42" and result.structured == 42  # not {"result": 42}
    assert [(e.kind, e.call_id) for e in events] == [("started", "c1"), ("finished", "c1")]
    # Arguments may arrive as the model's JSON string.
    echoed = await registry.call("sample__echo", '{"text": "hi there"}')
    assert echoed.output == "hi there"  # a plain string is heard as itself


async def test_images_are_kept_as_tool_images(registry: ToolRegistry) -> None:
    result = await registry.call("sample__picture", None)
    assert result.output == "a pixel\n[image: image/png]"
    assert [image.mime_type for image in result.images] == ["image/png"]


async def test_unknown_tool_is_an_error_result(registry: ToolRegistry, events: list[ToolEvent]) -> None:
    result = await registry.call("sample__nope", {})
    assert result.is_error
    error = error_of(result.output)
    assert error["kind"] == "unknown_tool" and error["tool"] == "sample__nope"
    assert "sample__echo" in error["message"]
    assert events[-1].kind == "failed"


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [("{not json", "not valid JSON"), ("[1, 2]", "must be a JSON object"), ("42", "must be a JSON object")],
)
async def test_bad_arguments_are_an_error_result(registry: ToolRegistry, arguments: str, reason: str) -> None:
    result = await registry.call("sample__echo", arguments)
    error = error_of(result.output)
    assert result.is_error and error["kind"] == "bad_arguments" and reason in error["message"]


async def test_arguments_the_server_rejects_name_the_argument(registry: ToolRegistry) -> None:
    wrong_type = error_of((await registry.call("sample__add", {"a": "three", "b": 4})).output)
    assert wrong_type["kind"] == "bad_arguments"
    assert wrong_type["message"].startswith("invalid arguments: a: Input should be a valid integer")
    missing = error_of((await registry.call("sample__add", {"a": 1})).output)
    assert missing == {
        "tool": "sample__add",
        "message": "invalid arguments: b: Field required",
        "kind": "bad_arguments",
    }
    # Nothing a developer-only detail: no pydantic class names or documentation links.
    assert "Arguments" not in wrong_type["message"] and "http" not in wrong_type["message"]


async def test_docstring_descriptions_lose_their_indentation() -> None:
    server = MCPServer("doc")

    @server.tool()
    async def report(day: str) -> str:
        """First line of the description,
        continued on an indented line.

            An indented example stays indented relative to the text.
        """
        return day

    async with ToolRegistry([ServerSpec("doc", server)]) as registry:
        tool = registry.get("doc__report")
        assert tool is not None
        assert tool.function_tool()["description"] == (
            "First line of the description,\ncontinued on an indented line.\n\n"
            "    An indented example stays indented relative to the text."
        )


async def test_tool_error_is_an_error_result(registry: ToolRegistry) -> None:
    result = await registry.call("sample__fail", {"message": "the printer is on fire"})
    error = error_of(result.output)
    assert result.is_error and error["kind"] == "tool_error"
    assert "the printer is on fire" in error["message"]


async def test_timeout_cancels_the_handler(registry: ToolRegistry, probe: Probe) -> None:
    with anyio.fail_after(5):
        result = await registry.call("sample__slow", {"seconds": 30}, timeout_s=0.2)
        await probe.cancelled.wait()
    error = error_of(result.output)
    assert error["kind"] == "timeout" and "0.2 s" in error["message"]
    # The session is still usable afterwards.
    assert not (await registry.call("sample__echo", {"text": "x"})).is_error


async def test_cancelling_the_caller_cancels_the_request(
    registry: ToolRegistry, probe: Probe, events: list[ToolEvent]
) -> None:
    outcome: list[str] = []

    async def caller() -> None:
        try:
            await registry.call("sample__slow", {"seconds": 30}, call_id="c9")
        except anyio.get_cancelled_exc_class():
            outcome.append("cancelled")
            raise
        outcome.append("returned")

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(caller)
            await probe.started.wait()
            tg.cancel_scope.cancel()
        await probe.cancelled.wait()
    assert outcome == ["cancelled"]
    assert (events[-1].kind, events[-1].call_id) == ("cancelled", "c9")


async def test_progress_reaches_callbacks(registry: ToolRegistry, events: list[ToolEvent]) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        seen.append((done, total, message))

    result = await registry.call("sample__work", {"steps": 3}, progress=on_progress)
    assert not result.is_error
    assert seen == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]
    assert [e.detail["progress"] for e in events if e.kind == "progress"] == [1, 2, 3]

    plain: list[float] = []
    await registry.call("sample__work", {"steps": 2}, progress=lambda done, total, msg: plain.append(done))
    assert plain == [1, 2]


async def test_per_server_concurrency_limit(probe: Probe) -> None:
    spec = ServerSpec("sample", build_server(probe), max_concurrency=2)
    async with ToolRegistry([spec]) as registry:
        results: list[str] = []

        async def call() -> None:
            results.append((await registry.call("sample__gate", {})).output)

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                for _ in range(5):
                    tg.start_soon(call)
                while probe.running < 2:
                    await anyio.lowlevel.checkpoint()
                # Give the other three every chance to get in, were there no limit.
                for _ in range(200):
                    await anyio.lowlevel.checkpoint()
                assert probe.running == 2
                probe.release.set()
    assert probe.max_running == 2
    assert len(results) == 5 and all("released" in r for r in results)


async def test_allow_list_limits_the_tools() -> None:
    async with ToolRegistry([ServerSpec("sample", build_server(), tools=["echo", "add"])]) as registry:
        assert [t.name for t in registry.tools()] == ["sample__echo", "sample__add"]
        refused = await registry.call("sample__fail", {"message": "x"})
        assert error_of(refused.output)["kind"] == "unknown_tool"


async def test_policy_resolution_order() -> None:
    seen: list[tuple[str, str, ToolPolicy]] = []

    def hook(server: str, tool: types.Tool, policy: ToolPolicy) -> ToolPolicy | None:
        seen.append((server, tool.name, policy))
        if tool.name == "lookup":
            return ToolPolicy(timeout_s=3.0, approval=True)
        return None

    spec = ServerSpec("sample", build_server(), long_running=["echo"], approval=["add"], timeout_s=9.0)
    async with ToolRegistry([spec], policy_hook=hook) as registry:

        def policy(name: str) -> ToolPolicy:
            tool = registry.get(f"sample__{name}")
            assert tool is not None
            return tool.policy

        assert policy("echo") == ToolPolicy(long_running=True, timeout_s=9.0)  # config
        assert policy("add") == ToolPolicy(timeout_s=9.0, approval=True)  # config
        # _meta overrides config
        assert policy("long_job") == ToolPolicy(long_running=True, timeout_s=120.0, on_barge_in="cancel")
        assert policy("wipe").approval is True  # destructive_hint
        assert policy("lookup") == ToolPolicy(timeout_s=3.0, approval=True)  # the hook has the last word
        assert ("sample", "wipe", ToolPolicy(timeout_s=9.0, approval=True)) in seen
        wipe, lookup = registry.get("sample__wipe"), registry.get("sample__lookup")
        assert wipe is not None and wipe.destructive and not wipe.read_only
        assert lookup is not None and lookup.read_only and not lookup.destructive


async def test_policy_timeout_applies_to_calls(probe: Probe) -> None:
    async with ToolRegistry([ServerSpec("sample", build_server(probe), timeout_s=0.2)]) as registry:
        with anyio.fail_after(5):
            result = await registry.call("sample__slow", {"seconds": 30})
        assert error_of(result.output)["kind"] == "timeout"


async def test_list_changed_refreshes_tools(registry: ToolRegistry, events: list[ToolEvent]) -> None:
    changed = anyio.Event()
    remove = registry.add_listener(changed.set)
    result = await registry.call("sample__grow", {"name": "greet", "reply": "hello!"})
    assert not result.is_error
    with anyio.fail_after(5):
        await changed.wait()
    assert registry.get("sample__greet") is not None
    assert "sample__greet" in [t["name"] for t in registry.function_tools()]
    assert (await registry.call("sample__greet", {})).output == "hello!"
    tools_changed = [e for e in events if e.kind == "tools_changed"]
    assert tools_changed and "sample__greet" in tools_changed[-1].detail["tools"]
    remove()


async def test_a_server_that_fails_to_start_does_not_stop_the_others() -> None:
    broken = ServerSpec("broken", StdioServerParameters(command="/nonexistent/mcp-server"))
    async with ToolRegistry([broken, ServerSpec("sample", build_server())]) as registry:
        assert set(registry.errors) == {"broken"}
        assert "nonexistent" in registry.errors["broken"]
        assert set(registry.servers) == {"broken", "sample"}
        assert not (await registry.call("sample__echo", {"text": "ok"})).is_error
        assert [t for t in registry.tools() if t.server == "broken"] == []


async def test_duplicate_server_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="already registered"):
        ToolRegistry([ServerSpec("s", build_server()), ServerSpec("s", build_server())])


async def test_add_and_remove_servers_at_runtime(registry: ToolRegistry, events: list[ToolEvent]) -> None:
    changes: list[int] = []
    registry.add_listener(lambda: changes.append(len(registry.tools())))
    other = MCPServer("other")

    @other.tool(description="Say hi.")
    async def hello() -> str:
        return "hi"

    added = await registry.add_server(ServerSpec("other", other))
    assert [t.name for t in added] == ["other__hello"]
    assert (await registry.call("other__hello", {})).output == "hi"
    await registry.remove_server("other")
    assert registry.get("other__hello") is None and "other" not in registry.servers
    assert len(changes) == 2
    with pytest.raises(ValueError, match="already registered"):
        await registry.add_server(ServerSpec("sample", build_server()))


async def test_add_server_that_cannot_connect_raises(registry: ToolRegistry) -> None:
    spec = ServerSpec("gone", StdioServerParameters(command="/nonexistent/mcp-server"))
    with pytest.raises(ServerUnavailable, match="gone"):
        await registry.add_server(spec)
    assert "gone" not in registry.servers


async def test_colliding_names_across_servers_are_all_callable() -> None:
    first, second = MCPServer("first"), MCPServer("second")

    async def one() -> str:
        return "one"

    async def two() -> str:
        return "two"

    first.add_tool(one, name="b__c")
    second.add_tool(two, name="c")
    async with ToolRegistry([ServerSpec("a", first), ServerSpec("a__b", second)]) as registry:
        names = [t.name for t in registry.tools()]
        assert len(set(names)) == 2
        outputs = {(await registry.call(n, {})).output for n in names}
        assert outputs == {"one", "two"}


async def test_a_blocking_sync_tool_does_not_hold_up_a_timeout() -> None:
    server = MCPServer("blocking")
    release, finished = threading.Event(), threading.Event()

    @server.tool(description="Block a worker thread.")
    def block() -> str:
        release.wait(10)
        finished.set()
        return "unblocked"

    try:
        async with ToolRegistry([ServerSpec("blocking", server)]) as registry:
            with anyio.fail_after(5):
                result = await registry.call("blocking__block", {}, timeout_s=0.2)
            assert json.loads(result.output)["error"]["kind"] == "timeout"
            assert not finished.is_set()  # the answer came while the tool was still blocked
            release.set()  # before leaving: shutting down waits for the worker thread
    finally:
        release.set()


async def test_list_changed_notification_from_a_handshake_era_connection() -> None:
    # A sync tool makes the registry connect over the stream path (protocol 2025-11-25), where
    # changes arrive as a plain notifications/tools/list_changed rather than a listen stream.
    server = MCPServer("old")

    @server.tool(description="A plain def tool.")
    def plain() -> str:
        return "plain"

    @server.tool(description="Add a tool and announce it the 2025 way.")
    async def grow(ctx: Context) -> str:
        async def late() -> str:
            return "late"

        server.add_tool(late, name="late")
        await ctx.request_context.session.send_tool_list_changed()
        return "grown"

    async with ToolRegistry([ServerSpec("old", server)]) as registry:
        changed = anyio.Event()
        registry.add_listener(changed.set)
        assert registry.get("old__late") is None
        await registry.call("old__grow", {})
        with anyio.fail_after(5):
            await changed.wait()
        assert (await registry.call("old__late", {})).output == "late"
