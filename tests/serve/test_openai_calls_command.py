"""`mcp-voice serve` as a real subprocess taking an OpenAI SIP call: the config's `[openai_calls]`
table and the environment's secrets wire the webhook, the calls API and the sideband."""

from __future__ import annotations

import re
from pathlib import Path

import anyio
import pytest
from conftest import read_all, serve_process, write_config

from tests.serve.fake_openai import API_KEY, SECRET, fake_openai

pytestmark = pytest.mark.anyio

PORT = re.compile(r"ws://127\.0\.0\.1:(\d+)/")
WAIT_S = 30.0


async def test_serve_takes_a_sip_call_with_its_stdio_tools(tmp_path: Path) -> None:
    async with fake_openai() as fake:
        table = f'\n[openai_calls]\nbase_url = "{fake.rest_base}"\ninstructions = "Hello from the file."\n'
        config = write_config(tmp_path, table)
        env = {"OPENAI_WEBHOOK_SECRET": SECRET, "OPENAI_API_KEY": API_KEY}
        args = ("--port", "0", "--upstream", "sim", "--config", str(config))
        async with serve_process(*args, env=env) as (proc, line):
            match = PORT.search(line)
            assert match, line
            url = f"http://127.0.0.1:{match.group(1)}"
            assert (await fake.ring(url, "rtc_cli")).status_code == 200
            accept = await fake.wait_request("accept")
            assert accept.body["instructions"] == "Hello from the file."
            assert "testtools__lookup" in {t["name"] for t in accept.body["tools"]}
            call = fake.calls["rtc_cli"]
            with anyio.fail_after(WAIT_S):
                await call.connected.wait()
            item = await call.call_tool("testtools__lookup", {"city": "Oslo"})
            assert await call.output_for(item["call_id"]) == "sunny in Oslo, 21 degrees"
            await call.end()
            proc.terminate()
            with anyio.fail_after(WAIT_S):
                assert await proc.wait() == 0
            err = await read_all(proc.stderr)
        assert API_KEY not in err and SECRET not in err


async def test_a_malformed_webhook_secret_stops_serve_with_a_clear_message(tmp_path: Path) -> None:
    env = {"OPENAI_WEBHOOK_SECRET": "whsec_not base64!"}
    async with serve_process("--port", "0", "--upstream", "sim", env=env) as (proc, line):
        err = await read_all(proc.stderr)
        with anyio.fail_after(WAIT_S):
            code = await proc.wait()
    assert line == "" and code == 2
    assert "OPENAI_WEBHOOK_SECRET" in err and "base64" in err and "Traceback" not in err
