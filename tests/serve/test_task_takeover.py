"""A call's MCP task outlives the call's owner: kill -9 it, the new owner resumes the task by its id.

Two real `mcp-voice serve` processes share a real Redis; the task server (fastmcp + fastmcp-tasks)
is a third process both reach over streamable HTTP, so the task lives on after its caller's owner.
The fake OpenAI plays the model on the call's sideband.
"""

from __future__ import annotations

import json
import signal
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import serve_process
from redis_rig import redis_server
from takeover_rig import HERE, eventually, port_of, records, serve_args, takeover_env

from tests.serve.fake_openai import FakeCall, fake_openai
from tests.tasks.conftest import start_http_task_server

pytestmark = pytest.mark.anyio

LEASE_S = 1.0


def _config(directory: Path, task_url: str) -> Path:
    path = directory / "mcp-voice.toml"
    path.write_text(
        "[servers.tk]\n"
        f"command = {json.dumps(sys.executable)}\n"
        f"args = [{json.dumps(str(HERE / 'takeover_tools.py'))}]\n"
        "[servers.tt]\n"
        f"url = {json.dumps(task_url)}\n"
        f"[serve]\nlease_s = {LEASE_S}\n"
    )
    return path


def _results(call: FakeCall, tool_call: str, text: str) -> list[dict[str, Any]]:
    """Every item serve sent that carries `text` for `tool_call` (an output or a result note)."""
    found = []
    for event in call.sent("conversation.item.create"):
        item = event["item"]
        if (
            item.get("type") == "function_call_output"
            and item["call_id"] == tool_call
            and text in item["output"]
        ):
            found.append(item)
        elif item.get("type") == "message" and tool_call in json.dumps(item) and text in json.dumps(item):
            found.append(item)
    return found


async def test_kill_9_mid_task_the_new_owner_resumes_it_and_delivers_its_result_once(tmp_path: Path) -> None:
    with redis_server() as redis:
        async with (
            start_http_task_server(tmp_path) as tasks,
            fake_openai() as fake,
            AsyncExitStack() as stack,
        ):
            config = _config(tmp_path, tasks.url)
            env = takeover_env(fake.rest_base)
            owner, line_a = await stack.enter_async_context(
                serve_process(*serve_args(redis.url, config), env=env)
            )
            await stack.enter_async_context(serve_process(*serve_args(redis.url, config), env=env))
            assert (await fake.ring(f"http://127.0.0.1:{port_of(line_a)}", "rtc_task")).json() == {
                "status": "ok"
            }
            call = fake.calls["rtc_task"]
            await call.wait_connections(1)

            held = await call.call_tool("tk__hold")  # a plain call: dies with its process
            task = await call.call_tool("tt__slow_count", {"steps": 8, "delay_s": 0.5})
            await eventually(lambda: _task_recorded(redis.url, task["call_id"]))

            owner.kill()
            await owner.wait()
            await call.wait_connections(2)

            with anyio.fail_after(20):
                while not _results(call, task["call_id"], "counted 8"):  # noqa: ASYNC110 (another process)
                    await anyio.sleep(0.05)
            assert "lost" in await call.output_for(held["call_id"])
            await anyio.sleep(2 * LEASE_S)  # more watch rounds: nothing is delivered or reported twice
            assert len(_results(call, task["call_id"], "counted 8")) == 1
            lost = [
                e
                for e in call.sent("conversation.item.create")
                if e["item"].get("type") == "function_call_output" and e["item"]["call_id"] == held["call_id"]
            ]
            assert len(lost) == 1
            assert not _results(call, task["call_id"], "lost")  # the task call was never called lost
            record = json.loads((await records(redis.url))["rtc_task"])
            assert record["tasks"] == {}  # delivered: nothing left to resume
            await call.end()


async def _task_recorded(url: str, tool_call: str) -> bool:
    raw = (await records(url)).get("rtc_task")
    return raw is not None and tool_call in (json.loads(raw).get("tasks") or {})


async def test_a_drain_hands_a_task_call_to_another_process_which_tells_the_model_once(
    tmp_path: Path,
) -> None:
    with redis_server() as redis:
        async with (
            start_http_task_server(tmp_path) as tasks,
            fake_openai() as fake,
            AsyncExitStack() as stack,
        ):
            config = _config(tmp_path, tasks.url)
            env = takeover_env(fake.rest_base)
            owner, line_a = await stack.enter_async_context(
                serve_process(*serve_args(redis.url, config), env=env)
            )
            await stack.enter_async_context(serve_process(*serve_args(redis.url, config), env=env))
            assert (await fake.ring(f"http://127.0.0.1:{port_of(line_a)}", "rtc_task")).json() == {
                "status": "ok"
            }
            call = fake.calls["rtc_task"]
            await call.wait_connections(1)
            task = await call.call_tool("tt__slow_count", {"steps": 8, "delay_s": 0.5})
            await eventually(lambda: _task_recorded(redis.url, task["call_id"]))

            owner.send_signal(signal.SIGTERM)  # hand-off: the call moves at once
            await call.wait_connections(2)
            with anyio.fail_after(20):
                while not _told(call, task["call_id"]):  # noqa: ASYNC110 (another process)
                    await anyio.sleep(0.05)
            await anyio.sleep(2 * LEASE_S)
            assert len(_told(call, task["call_id"])) == 1, _told(call, task["call_id"])
            await call.end()


def _told(call: FakeCall, tool_call: str) -> list[dict[str, Any]]:
    """What the model was told of the task beyond its placeholder (its result, or how it ended)."""
    told = []
    for event in call.sent("conversation.item.create"):
        item = event["item"]
        if item.get("type") == "function_call_output" and item["call_id"] == tool_call:
            if '"status": "running"' not in item["output"]:
                told.append(item)
        elif item.get("type") == "message" and tool_call in json.dumps(item):
            told.append(item)
    return told
