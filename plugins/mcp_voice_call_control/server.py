"""The MCP server: `hang_up` and `transfer(target)`, acting on the call named in the request's `_meta`.

A tool learns which call it is in from `_meta` `dev.mcp-voice/call` (`transport`, `call_id`),
which the session host sends with every tool call; the model never sees or chooses a call id.
Transfers go only to the configured names (SIP REFER), so a caller cannot talk the model into
dialling an arbitrary number.

No `from __future__ import annotations` here: `transfer`'s parameter type is built at run time
from the configured targets, and MCPServer reads it from the live annotation.
"""

from collections.abc import Callable, Mapping
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from mcp_voice import META_CALL, CallsAPI, CallsAPIError, tls_context_once

SERVER_NAME = "call"


def _call(ctx: Context, transports: tuple[str, ...]) -> str:
    """The current call's id from `_meta`, or a ToolError the model can say."""
    meta = ctx.request_context.meta or {}
    call = dict(meta).get(META_CALL) or {}
    if not isinstance(call, Mapping) or call.get("transport") not in transports or not call.get("call_id"):
        kinds = " or ".join(transports)
        raise ToolError(f"this conversation is not an OpenAI {kinds} call, so it cannot do that")
    return str(call["call_id"])


def build_server(
    targets: Mapping[str, str],
    *,
    api_key: Callable[[], str | None],
    rest_base: str,
    transfer_needs_approval: bool = True,
) -> MCPServer:
    server = MCPServer(SERVER_NAME, log_level="WARNING")
    names = sorted(targets)
    tls = tls_context_once()

    def api() -> CallsAPI:
        key = api_key()
        if not key:
            raise ToolError("call control is not configured with an OpenAI key")
        return CallsAPI(key, rest_base, tls=tls)

    @server.tool(
        description="End the phone call. Say goodbye first: the line goes dead at once.",
        annotations=ToolAnnotations(
            title="Hang up", read_only_hint=False, destructive_hint=False, idempotent_hint=True
        ),
    )
    async def hang_up(ctx: Context) -> str:
        call_id = _call(ctx, ("sip", "webrtc"))
        try:
            async with api() as calls:
                await calls.hangup(call_id)
        except CallsAPIError as exc:
            raise ToolError(f"could not hang up: {exc}") from None
        return "The call has ended."

    if not names:
        return server

    listed = ", ".join(names)
    target_schema: dict[str, Any] = {"enum": names}

    @server.tool(
        description=f"Transfer the caller to someone else. Tell the caller first. Targets: {listed}.",
        annotations=ToolAnnotations(
            title="Transfer the call",
            read_only_hint=False,
            destructive_hint=transfer_needs_approval,
            open_world_hint=True,
        ),
    )
    async def transfer(
        target: Annotated[str, Field(description=f"One of: {listed}", json_schema_extra=target_schema)],
        ctx: Context,
    ) -> str:
        call_id = _call(ctx, ("sip",))
        uri = targets.get(target)
        if uri is None:
            raise ToolError(f"unknown transfer target {target!r}; choose one of: {listed}")
        try:
            async with api() as calls:
                await calls.refer(call_id, uri)
        except CallsAPIError as exc:
            raise ToolError(f"could not transfer the call: {exc}") from None
        return f"The call is being transferred to {target}."

    return server
