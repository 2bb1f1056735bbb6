"""Realtime clients nobody on this project wrote, driving a real `mcp-voice serve` on loopback.

@openai/agents-realtime (node, WebSocket transport, default options and without its automatic
response after MCP calls), the openai npm package's `OpenAIRealtimeWS` (wss only: serve with a
certificate made here) and pipecat's `OpenAIRealtimeLLMService` (with `host_calls=hidden`). Each
completes a host tool call and a client-side function call; the node and pipecat scripts in
tests/clients print counts as JSON. A missing node, npm package or pipecat fails: `.ci/run`
installs them (`npm ci` in tests/clients).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import serve_process, write_config

pytestmark = pytest.mark.anyio

CLIENTS = Path(__file__).parents[1] / "clients"
HOST_TEXT = "testtools__lookup city=Paris"
RESULT = "sunny in Paris, 21 degrees"
CLIENT_S = 180
"""Generous: node starts, imports its SDK and runs three turns on a loaded 2-core machine."""


def node() -> str:
    path = shutil.which("node")
    assert path, "node is not installed (.ci/run expects it on the machine image)"
    assert (CLIENTS / "node_modules" / "@openai" / "agents-realtime").is_dir(), (
        "the node clients are not installed: run `npm ci` in tests/clients (.ci/run does)"
    )
    return path


async def run_client(*command: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a client script to the end; its last stdout line is its JSON report."""
    with anyio.fail_after(CLIENT_S):
        done = await anyio.run_process(
            list(command), cwd=CLIENTS, env={**os.environ, **(env or {})}, check=False
        )
    out, err = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, f"{command[1]} failed ({done.returncode}):\n{err[-3000:]}\n{out[-2000:]}"
    return json.loads(out.strip().splitlines()[-1])


def port_of(line: str, scheme: str = "ws") -> int:
    prefix = f"mcp-voice listening on {scheme}://127.0.0.1:"
    assert line.startswith(prefix), line
    return int(line[len(prefix) :].split("/", 1)[0])


SLOW_TEXT = "testtools__slow_report topic=x"
SLOW_RESULT = "report on x: all systems nominal"


@pytest.mark.parametrize("auto", [True, False], ids=["defaults", "no-auto-response"])
@pytest.mark.parametrize("long_running", [False, True], ids=["sync", "long-running"])
async def test_agents_realtime_hears_each_host_call_once(
    tmp_path: Path, auto: bool, long_running: bool
) -> None:
    """Counted until the session has been quiet for 3 s: a late extra response would be counted."""
    config = write_config(tmp_path)
    text, result = (SLOW_TEXT, SLOW_RESULT) if long_running else (HOST_TEXT, RESULT)
    async with serve_process("--port", "0", "--upstream", "sim", "--config", str(config)) as (_, line):
        url = f"ws://127.0.0.1:{port_of(line)}/v1/realtime?model=gpt-realtime"
        flags = [] if auto else ["--no-auto-trigger"]
        report = await run_client(node(), "agents_realtime.mjs", url, text, result, *flags)
    print(f"agents-realtime auto={auto} long_running={long_running}:", report["host_call"])
    assert report["errors"] == []
    # every event of a type the SDK knows passes its own zod schema (it drops the others silently)
    assert report["invalid_events"] == [] and report["checked_types"] >= 15, report
    host = report["host_call"]
    spoken = host["spoken"]
    # the result is spoken once; a long-running call also speaks its placeholder ("running") first
    assert sum(result in text for text in spoken) == 1, report
    if long_running:
        # the response that called, the placeholder's read-back, the result's: never a fourth
        assert host["responses_created"] == host["responses_done"] == 3, report
        assert len(spoken) == 2 and '"status": "running"' in spoken[0], report
    else:
        # the response that called the tool, and the one that speaks its result: never a third
        assert host["responses_created"] == host["responses_done"] == 2, report
        assert spoken == [f"Tool result: {RESULT}"], report
        assert report["mcp_tool_call_completed"] == [
            {"name": "lookup", "output": RESULT, "status": "completed"}
        ]
        assert report["history_mcp_call"] == {"status": "completed", "output": RESULT}
    assert host["mcp_item_done"] == 1, report
    # the client's own function tool: it runs it, answers, and asks for the reply itself
    function = report["function_call"]
    assert function["history_status"] == "completed" and function["history_output"] == "echoed pong"
    assert function["responses_created"] == 2


async def test_openai_npm_realtime_ws_over_tls(tmp_path: Path) -> None:
    sys.path.insert(0, str(CLIENTS))
    try:
        from certs import make_certificate
    finally:
        sys.path.remove(str(CLIENTS))
    cert, key = make_certificate(tmp_path)
    config = write_config(tmp_path)
    args = (
        "--port",
        "0",
        "--upstream",
        "sim",
        "--config",
        str(config),
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
    )
    async with serve_process(*args) as (_, line):
        port = port_of(line, "wss")
        report = await run_client(
            node(),
            "openai_ws.mjs",
            f"https://127.0.0.1:{port}/v1",
            HOST_TEXT,
            SLOW_TEXT,
            env={"NODE_EXTRA_CA_CERTS": str(cert)},
        )
    print("openai npm:", report["quiet"])
    assert report["errors"] == []
    assert report["url"].startswith(f"wss://127.0.0.1:{port}/v1/realtime")
    assert report["session_updated"] == 1  # the answer to its own session.update, nothing else
    assert report["host_call"] == {"responses_created": 2, "mcp_item_done": 1, "mcp_output": [RESULT]}
    assert report["function_call"]["responses_created"] == 2
    # counted until 3 s of quiet: the call and its read-back; a long-running call one more, its result
    assert report["quiet"]["sync"] == {"responses_created": 2, "result_spoken": 1}, report
    assert report["quiet"]["slow"] == {"responses_created": 3, "result_spoken": 1}, report


async def test_pipecat_realtime_service_with_hidden_host_calls(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    async with serve_process("--port", "0", "--upstream", "sim", "--config", str(config)) as (_, line):
        # pipecat appends "?model=..." to its base_url: the "&" keeps our parameter intact
        url = f"ws://127.0.0.1:{port_of(line)}/v1/realtime?host_calls=hidden&"
        script = str(CLIENTS / "pipecat_client.py")
        host = await run_client(sys.executable, script, url, HOST_TEXT, RESULT)
        slow = await run_client(sys.executable, script, url, SLOW_TEXT, "report on")
        mine = await run_client(
            sys.executable, script, url, "client_echo word=pong", "echoed pong", "--function", "client_echo"
        )
    assert host["errors"] == [] and mine["errors"] == []
    print("pipecat hidden:", host["responses_until_quiet"], slow["responses_until_quiet"])
    assert host["responses_before_fence"] == 2, host  # the call (nothing shown), then its result
    assert host["reply_spoken"] == 1, host
    # long-running: the call, the placeholder's read-back, then the result, spoken once
    assert slow["responses_until_quiet"] == 3 and slow["reply_spoken"] == 1, slow
    assert any(RESULT in text for text in host["texts"])
    assert mine["function_calls"] == [{"word": "pong"}]
    assert any("echoed pong" in text for text in mine["texts"])


async def test_openai_python_sdk_loop_hears_each_host_call_once(tmp_path: Path) -> None:
    """The README's loop never sends response.create after a call: the host reads back, once."""
    from openai import AsyncOpenAI

    config = write_config(tmp_path)
    async with serve_process("--port", "0", "--upstream", "sim", "--config", str(config)) as (_, line):
        client = AsyncOpenAI(api_key="client-key", websocket_base_url=f"ws://127.0.0.1:{port_of(line)}/v1")
        async with client.realtime.connect(model="gpt-realtime") as conn:
            await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
            kinds: list[str] = []
            texts: list[str] = []
            for text, reply in ((HOST_TEXT, f"Tool result: {RESULT}"), ("say: fence", "fence")):
                await conn.conversation.item.create(
                    item={
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": text}],
                    }
                )
                await conn.response.create()
                with anyio.fail_after(60):
                    async for event in conn:
                        kinds.append(event.type)
                        if event.type == "response.output_text.done":
                            texts.append(event.text)
                        if reply in texts:
                            break
    assert texts == [f"Tool result: {RESULT}", "fence"], texts
    before_fence = kinds[: len(kinds) - kinds[::-1].index("response.created") - 1]
    assert before_fence.count("response.created") == 2, kinds
    assert kinds.count("session.updated") == 1 and "error" not in kinds
