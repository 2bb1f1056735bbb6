"""Work the caller steers by voice: host tools to list the running calls and to cancel one.

Once the session has long-running work (a tool whose policy is long-running, or a call the
server made an MCP task) the model gets `mcp_voice__running_calls` (each call's tool, call_id,
elapsed seconds and last progress) and `mcp_voice__cancel_call` (by tool name or call_id). They go
through the session's own-tools hook (`SessionTools.show`), as the question answer tool does.
Cancelling cancels the call's scope, so the MCP cancellation (or `tasks/cancel`) reaches the
server; the cancelled call's result is never injected or spoken, and the model gets a short
confirmation as the cancel tool's output.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio

from mcp_voice.protocol.events import new_item_id
from mcp_voice.session.calls import Call, CallManager
from mcp_voice.session.items import function_call_output
from mcp_voice.session.outbox import Outbox
from mcp_voice.session.presenter import HostCallView
from mcp_voice.session.sequencer import ResponseSequencer
from mcp_voice.tools.spec import HostTool, ToolPolicy

RUNNING_CALLS_TOOL = "mcp_voice__running_calls"
CANCEL_CALL_TOOL = "mcp_voice__cancel_call"

RUNNING_CALLS = HostTool(
    name=RUNNING_CALLS_TOOL,
    server="mcp_voice",
    tool_name="running_calls",
    description=(
        "List the tool calls still running in the background: each one's tool, call_id, seconds "
        "since it started and its last progress message. Use it when the user asks how their "
        "request is going."
    ),
    parameters={"type": "object", "properties": {}},
    policy=ToolPolicy(),
    read_only=True,
)
CANCEL_CALL = HostTool(
    name=CANCEL_CALL_TOOL,
    server="mcp_voice",
    tool_name="cancel_call",
    description=(
        "Cancel a tool call running in the background when the user asks to stop it. Give its "
        "call_id, or the tool name if only one call of that tool runs. Its result will never come."
    ),
    parameters={
        "type": "object",
        "properties": {
            "call_id": {"type": "string", "description": "The call_id of the running call."},
            "tool": {"type": "string", "description": "The name of the running call's tool."},
        },
    },
    policy=ToolPolicy(),
)


class Steering:
    """The session's steering tools: shown once there is long-running work, answered here."""

    def __init__(
        self,
        calls: CallManager,
        outbox: Outbox,
        sequencer: ResponseSequencer,
        show_tool: Callable[[HostTool, bool], None],
        *,
        list_tool: bool = True,
        cancel_tool: bool = True,
        readback: bool = True,
    ) -> None:
        """`readback`: the client sees host calls end, so it may ask for the read-back itself."""
        self._calls = calls
        self._out = outbox
        self._sequencer = sequencer
        self._show_tool = show_tool
        self._tools = [tool for tool, on in ((RUNNING_CALLS, list_tool), (CANCEL_CALL, cancel_tool)) if on]
        self._readback = readback
        self._task_seen = False

    def task_seen(self) -> None:
        """A call became an MCP task: the session has long-running work from now on."""
        self._task_seen = True

    def sync(self, host_tools: list[HostTool]) -> None:
        """Show the tools when the session has long-running work (call before sending tools)."""
        shown = (
            self._task_seen
            or any(tool.policy.long_running for tool in host_tools)
            or any(call.long_running for call in self._calls.running)
        )
        for tool in self._tools:
            self._show_tool(tool, shown)

    def owns(self, name: str) -> bool:
        return any(tool.name == name for tool in self._tools)

    async def answer(self, view: HostCallView) -> None:
        """The model called a steering tool: its output, and a response to say it."""
        if view.tool.name == RUNNING_CALLS_TOOL:
            output = self._list()
        else:
            output = self._cancel(_arguments(view.arguments))
        text = json.dumps(output, ensure_ascii=False)
        if "error" in output:
            view.error = output["error"]["message"]
        else:
            view.output = text
        item = await self._out.add_item(function_call_output(new_item_id(), view.call_id, text))
        await self._sequencer.request_host([item], readback=self._readback)

    def _running(self) -> list[Call]:
        return [call for call in self._calls.running if not (call.finished or call.cancelled)]

    def _list(self) -> dict[str, Any]:
        now = anyio.current_time()
        running = [
            {
                "tool": call.view.tool.name,
                "call_id": call.view.call_id,
                "elapsed_s": round(now - call.started, 1),
                "progress": call.progress,
            }
            for call in self._running()
        ]
        count = len(running)
        message = "No calls are running." if not count else f"{count} call{'s' * (count > 1)} running."
        return {"running": running, "message": message}

    def _cancel(self, args: dict[str, Any]) -> dict[str, Any]:
        call_id, tool = args.get("call_id"), args.get("tool")
        running = self._running()
        if isinstance(call_id, str) and call_id:
            matches = [call for call in running if call.view.call_id == call_id]
            asked = f"call_id {call_id!r}"
        elif isinstance(tool, str) and tool:
            matches = [call for call in running if tool in (call.view.tool.name, call.view.tool.tool_name)]
            asked = f"tool {tool!r}"
        else:
            return _error("give the call_id or the tool name of the call to cancel", running)
        if not matches:
            return _error(f"no running call matches {asked}", running)
        if len(matches) > 1:
            return _error(f"{len(matches)} calls match {asked}; give the call_id of one", running)
        call = matches[0]
        self._calls.cancel(call, "because the user asked to stop it")
        name = call.view.tool.name
        return {
            "status": "cancelled",
            "tool": name,
            "call_id": call.view.call_id,
            "message": f"{name} was cancelled; its result will not come. Tell the user briefly.",
        }


def _arguments(raw: str) -> dict[str, Any]:
    try:
        args = json.loads(raw or "{}")
    except json.JSONDecodeError:
        return {}
    return args if isinstance(args, dict) else {}


def _error(message: str, running: list[Call]) -> dict[str, Any]:
    """A tool error naming what runs, so the model can retry with the right call."""
    names = ", ".join(f"{call.view.tool.name} (call_id {call.view.call_id})" for call in running)
    return {"error": {"message": f"{message}. Running now: {names or 'nothing'}."}}
