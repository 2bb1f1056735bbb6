"""A SIP call outlives its serve process: kill -9 the owner, another takes the call within lease_s.

Two real `mcp-voice serve` processes share a real Redis; the fake OpenAI (in this process) plays
the phone network and the model on the call's sideband.
"""

from __future__ import annotations

import json
import signal
import time
import urllib.error
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import http_get, serve_process
from redis_rig import redis_server
from takeover_rig import eventually, inflight, port_of, records, serve_args, takeover_config, takeover_env

from tests.serve.fake_openai import fake_openai

pytestmark = pytest.mark.anyio

LEASE_S = 1.0


async def test_kill_9_of_the_owner_moves_the_call_and_reports_the_lost_tool_call(tmp_path: Path) -> None:
    config = takeover_config(tmp_path, LEASE_S)
    with redis_server() as redis:
        async with fake_openai() as fake, AsyncExitStack() as stack:
            env = takeover_env(fake.rest_base)
            owner, line_a = await stack.enter_async_context(
                serve_process(*serve_args(redis.url, config), env=env)
            )
            _, line_b = await stack.enter_async_context(
                serve_process(*serve_args(redis.url, config), env=env)
            )
            a, b = port_of(line_a), port_of(line_b)

            # the same new call offered to both: exactly one accepts it
            answers = [(await fake.ring(f"http://127.0.0.1:{port}", "rtc_take")).json() for port in (a, b)]
            assert answers == [{"status": "ok"}, {"status": "duplicate"}]
            await fake.wait_request("accept")
            call = fake.calls["rtc_take"]
            await call.wait_connections(1)
            item = await call.call_tool("tk__lookup", {"city": "Oslo"})
            assert await call.output_for(item["call_id"]) == "sunny in Oslo"

            held = await call.call_tool("tk__hold")
            await eventually(lambda: _holds(redis.url, held["call_id"]))

            owner.kill()  # SIGKILL: no drain, no release; the lease simply stops being renewed
            killed = time.monotonic()
            await owner.wait()
            await call.wait_connections(2)
            took = time.monotonic() - killed
            assert took < LEASE_S + 3, f"takeover took {took:.1f} s"

            # the model hears once that the dead process's tool call is lost ...
            assert "lost" in await call.output_for(held["call_id"])
            # ... and the caller keeps talking to the tools, through the new owner
            item = await call.call_tool("tk__lookup", {"city": "Lima"})
            assert await call.output_for(item["call_id"]) == "sunny in Lima"
            await anyio.sleep(LEASE_S)  # a second watch round: nothing is reported twice
            outputs = [
                e
                for e in call.sent("conversation.item.create")
                if e["item"].get("type") == "function_call_output" and e["item"]["call_id"] == held["call_id"]
            ]
            assert len(outputs) == 1 and json.loads(outputs[0]["item"]["output"])["error"].startswith("lost")
            assert call.connections == 2

            await call.end()  # the caller hangs up: the new owner drops the record and the lease
            await eventually(lambda: _no_records(redis.url))


async def _holds(url: str, tool_call: str) -> bool:
    return tool_call in await inflight(url, "rtc_take")


async def _no_records(url: str) -> bool:
    return not await records(url)


async def test_a_draining_owner_hands_its_calls_over_at_once(tmp_path: Path) -> None:
    """SIGTERM: the owner releases the lease (keeping the record), the other process attaches now."""
    config = takeover_config(tmp_path, 30.0)  # a long lease: only the hand-off can be this fast
    with redis_server() as redis:
        async with fake_openai() as fake, AsyncExitStack() as stack:
            env = takeover_env(fake.rest_base)
            owner, line_a = await stack.enter_async_context(
                serve_process(*serve_args(redis.url, config), env=env)
            )
            await stack.enter_async_context(serve_process(*serve_args(redis.url, config), env=env))
            assert (await fake.ring(f"http://127.0.0.1:{port_of(line_a)}", "rtc_drain")).json() == {
                "status": "ok"
            }
            call = fake.calls["rtc_drain"]
            await call.wait_connections(1)
            owner.send_signal(signal.SIGTERM)
            started = time.monotonic()
            await call.wait_connections(2)
            assert time.monotonic() - started < 5
            item = await call.call_tool("tk__lookup", {"city": "Rome"})
            assert await call.output_for(item["call_id"]) == "sunny in Rome"
            with anyio.fail_after(20):
                assert await owner.wait() == 0


async def test_a_call_taken_over_holds_a_session_slot_on_its_new_owner(tmp_path: Path) -> None:
    config = takeover_config(tmp_path, LEASE_S)
    (tmp_path / "b").mkdir()
    config_b = takeover_config(tmp_path / "b", LEASE_S)
    config_b.write_text(config_b.read_text() + "max_sessions = 1\n")
    with redis_server() as redis:
        async with fake_openai() as fake, AsyncExitStack() as stack:
            env = takeover_env(fake.rest_base)
            owner, line_a = await stack.enter_async_context(
                serve_process(*serve_args(redis.url, config), env=env)
            )
            _, line_b = await stack.enter_async_context(
                serve_process(*serve_args(redis.url, config_b), env=env)
            )
            b = port_of(line_b)
            assert (await readyz(b))[0] == 200
            assert (await fake.ring(f"http://127.0.0.1:{port_of(line_a)}", "rtc_slot")).json() == {
                "status": "ok"
            }
            call = fake.calls["rtc_slot"]
            await call.wait_connections(1)
            owner.kill()
            await owner.wait()
            await call.wait_connections(2)
            status, body = await readyz(b)  # the one slot is the taken-over call's
            assert status == 503 and body["sessions"] == 1 and body["reasons"] == ["full: 1 of 1 sessions"]
            await call.end()
            await eventually(lambda: _ready(b))  # the call ended: its slot is free again


async def readyz(port: int) -> tuple[int, dict[str, Any]]:
    try:
        status, body = await http_get(f"http://127.0.0.1:{port}/readyz")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    return status, json.loads(body)


async def _ready(port: int) -> bool:
    return (await readyz(port))[0] == 200
