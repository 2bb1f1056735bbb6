"""Serve processes that share a Redis and a fake OpenAI, for killing one under a live SIP call.

Used by tests/serve/test_call_takeover.py and bench/takeover.py.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import redis.asyncio as aioredis

from tests.serve.fake_openai import API_KEY, SECRET

HERE = Path(__file__).parent
LINE = re.compile(r"ws://127\.0\.0\.1:(\d+)/v1/realtime")
RECORDS_KEY = "mcp-voice:records:openai-calls"


def takeover_config(directory: Path, lease_s: float) -> Path:
    path = directory / "mcp-voice.toml"
    path.write_text(
        "[servers.tk]\n"
        f"command = {json.dumps(sys.executable)}\n"
        f"args = [{json.dumps(str(HERE / 'takeover_tools.py'))}]\n"
        f"[serve]\nlease_s = {lease_s}\n"
    )
    return path


def takeover_env(rest_base: str) -> dict[str, str]:
    return {"OPENAI_API_KEY": API_KEY, "OPENAI_WEBHOOK_SECRET": SECRET, "OPENAI_BASE_URL": rest_base}


def serve_args(redis_url: str, config: Path) -> tuple[str, ...]:
    return ("--port", "0", "--upstream", "sim", "--state", redis_url, "--config", str(config))


def port_of(line: str) -> int:
    match = LINE.search(line)
    if match is None:
        raise RuntimeError(f"serve did not start: {line!r}")
    return int(match.group(1))


async def inflight(redis_url: str, call_id: str) -> list[str]:
    """The tool calls the call's record says are in flight."""
    client = aioredis.from_url(redis_url, decode_responses=True)
    try:
        raw = await client.hget(RECORDS_KEY, call_id)  # type: ignore[misc]
    finally:
        await client.aclose()
    return list(json.loads(raw)["inflight"]) if raw else []


async def records(redis_url: str) -> dict[str, str]:
    """Every call record in the store."""
    client = aioredis.from_url(redis_url, decode_responses=True)
    try:
        return await client.hgetall(RECORDS_KEY)  # type: ignore[no-any-return,misc]
    finally:
        await client.aclose()


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout_s: float = 10.0, step_s: float = 0.05
) -> None:
    """Until `check()` holds (state in another process: there is no event to wait on)."""
    with anyio.fail_after(timeout_s):
        while not await check():  # noqa: ASYNC110
            await anyio.sleep(step_s)
