"""Client secrets minted and checked per second: the Redis state store vs this process's memory.

Minting is `client_secrets.mint` (a store `put`); checking is `Authenticator.check` of the value a
client presents (a store `get`), as `/v1/realtime` and `/v1/realtime/calls` do. Each runs with
`--concurrency` tasks at once (one serve process under many clients), against a real redis-server
on loopback. Prints rates and the Redis/memory ratio.

    python bench/state.py [--secrets 5000] [--concurrency 50]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "serve"))

from redis_rig import redis_server  # noqa: E402

from mcp_voice.serve.client_secrets import mint  # noqa: E402
from mcp_voice.serve.keys import Authenticator  # noqa: E402
from mcp_voice.serve.state import StateStore, open_state  # noqa: E402


async def rates(state: StateStore, count: int, concurrency: int) -> tuple[float, float]:
    authenticator = Authenticator(("key-1",), state.secrets)
    values: list[str] = []
    limiter = anyio.Semaphore(concurrency)

    async def one_mint() -> None:
        async with limiter:
            answer = await mint(
                state.secrets, 600, {"instructions": "Be brief."}, default_model="gpt-realtime"
            )
            values.append(answer["value"])

    async def one_check(value: str) -> None:
        async with limiter:
            credential = await authenticator.check([value])
            assert credential is not None and credential.kind == "client_secret"

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(count):
            tg.start_soon(one_mint)
    minted = count / (time.perf_counter() - started)
    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for value in values:
            tg.start_soon(one_check, value)
    checked = count / (time.perf_counter() - started)
    return minted, checked


async def main(count: int, concurrency: int) -> None:
    memory = await rates(open_state("memory"), count, concurrency)
    with redis_server() as server:
        state = open_state(server.url)
        try:
            await rates(state, min(count, 500), concurrency)  # warm the connection pool
            shared = await rates(state, count, concurrency)
        finally:
            await state.aclose()
    for what, mem, red in (("minted", memory[0], shared[0]), ("checked", memory[1], shared[1])):
        print(f"secrets {what}/s: memory {mem:,.0f}, redis {red:,.0f} ({red / mem:.2f}x memory)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--secrets", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=50)
    options = parser.parse_args()
    anyio.run(main, options.secrets, options.concurrency)
