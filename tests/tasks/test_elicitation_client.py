"""Questions a tool asks during a call reach the caller's `ask` (tools layer): 2026 and legacy."""

from __future__ import annotations

import json

import anyio
import mcp_types
import pytest
from mcp import MCPError
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from pydantic import BaseModel

from mcp_voice.tools import ServerSpec, ToolRegistry

pytestmark = pytest.mark.anyio


SECRET_URL = "https://auth.example.com/login?token=s3cr3t"


class Name(BaseModel):
    name: str


def build() -> MCPServer:
    server = MCPServer("ask")

    @server.tool()
    async def greet(ctx: Context) -> str | mcp_types.InputRequiredResult:
        """Greet someone whose name it asks for (2026-07-28: input_required)."""
        answer = (ctx.input_responses or {}).get("name")
        if answer is None:
            question = mcp_types.ElicitRequest(
                params=mcp_types.ElicitRequestFormParams(
                    message="What is your name?", requested_schema=Name.model_json_schema()
                )
            )
            return mcp_types.InputRequiredResult(input_requests={"name": question})
        result = mcp_types.ElicitResult.model_validate(answer)
        if result.action != "accept" or not result.content:
            return f"no name ({result.action})"
        return f"hello {result.content['name']}"

    @server.tool()
    async def sign_in(ctx: Context) -> str | mcp_types.InputRequiredResult:
        """Send the user to a sign-in page (URL mode)."""
        answer = (ctx.input_responses or {}).get("login")
        if answer is None:
            question = mcp_types.ElicitRequest(
                params=mcp_types.ElicitRequestURLParams(
                    message="Sign in to the calendar.", url=SECRET_URL, elicitation_id="el-1"
                )
            )
            return mcp_types.InputRequiredResult(input_requests={"login": question})
        return f"sign-in {mcp_types.ElicitResult.model_validate(answer).action}"

    return server


def build_legacy() -> MCPServer:
    """Its plain `def` tool makes the registry connect it the 2025-11-25 way (mode="legacy")."""
    server = MCPServer("legacy")

    @server.tool()
    def ping() -> str:
        """A plain function tool."""
        return "pong"

    @server.tool()
    async def greet_legacy(ctx: Context) -> str:
        """Greet someone whose name it asks for (elicitation/create)."""
        result = await ctx.elicit("What is your name?", Name)
        return (
            f"hello {result.data.name}"
            if result.action == "accept" and result.data
            else f"no name ({result.action})"
        )

    @server.tool()
    async def summarise(ctx: Context) -> str:
        """Ask the client's model to write something (sampling)."""
        message = mcp_types.SamplingMessage(
            role="user", content=mcp_types.TextContent(type="text", text="hi")
        )
        try:
            await ctx.request_context.session.create_message([message], max_tokens=10)
        except MCPError as exc:
            return f"refused: {exc.message}"
        return "sampled"

    return server


async def test_sampling_is_refused_clearly() -> None:
    async with ToolRegistry([ServerSpec("legacy", build_legacy())]) as registry:
        result = await registry.call("legacy__summarise", {})
        assert result.output == "refused: Sampling not supported"


@pytest.mark.parametrize("tool", ["ask__greet", "legacy__greet_legacy"])
async def test_the_question_reaches_ask_and_the_answer_resumes_the_call(tool: str) -> None:
    async with ToolRegistry([ServerSpec("ask", build()), ServerSpec("legacy", build_legacy())]) as registry:
        asked: list[mcp_types.ElicitRequestParams] = []

        async def ask(params: mcp_types.ElicitRequestParams) -> mcp_types.ElicitResult:
            asked.append(params)
            return mcp_types.ElicitResult(action="accept", content={"name": "Ada"})

        result = await registry.call(tool, {}, ask=ask)
        assert result.output == "hello Ada", result.output
        assert len(asked) == 1 and asked[0].message == "What is your name?"
        assert isinstance(asked[0], mcp_types.ElicitRequestFormParams)
        assert "name" in json.dumps(asked[0].requested_schema)


@pytest.mark.parametrize("tool", ["ask__greet", "legacy__greet_legacy"])
async def test_no_answer_in_time_or_no_asker_declines(tool: str) -> None:
    async with ToolRegistry([ServerSpec("ask", build()), ServerSpec("legacy", build_legacy())]) as registry:
        assert (await registry.call(tool, {})).output == "no name (decline)"

        async def never(params: mcp_types.ElicitRequestParams) -> mcp_types.ElicitResult:
            await anyio.sleep_forever()
            raise AssertionError

        with anyio.fail_after(5):
            result = await registry.call(tool, {}, ask=never, ask_timeout_s=0.2)
        assert result.output == "no name (decline)"
