"""Process-wide stalls and starvation, before and after, measured in the same run.

1. Regex stall: one session runs the filesystem's `search_files` with `(a+)+$` over a line of
   `--a` letters `a` and a `!`, while another session does `list_directory` round trips. Printed:
   the search's time and the other session's slowest round trip, with Python's backtracking
   `re` (before) and RE2 (after).
2. Starvation: through `mcp-voice serve` and the simulator, one session has four calls hanging
   on a tool server (max_concurrency 4) for `--hold` seconds; another session's quick call is
   timed, without (before) and with (after) the per-session call limit.

    python bench/resilience.py [--a 25] [--hold 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import websockets
from mcp import Client
from mcp.server import MCPServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

from mcp_voice.serve.app import create_app
from mcp_voice.serve.run import bind_socket, running
from mcp_voice.serve.settings import ServeSettings
from mcp_voice.session.host import HostSettings
from mcp_voice.sim import SimConfig
from mcp_voice.tools.registry import ToolRegistry
from mcp_voice.tools.spec import ServerSpec
from mcp_voice.upstreams import open_upstream
from mcp_voice_filesystem import build_server
from mcp_voice_filesystem import search as fs_search


async def regex_stall(root: Path) -> tuple[float, float, int]:
    """(search seconds, the longest gap between the other session's round trips, its round trips).

    The other session does a round trip then sleeps 10 ms, so the gap is about 10 ms plus a round
    trip when nothing stalls the event loop."""
    slowest, trips = 0.0, 0
    done = anyio.Event()
    async with Client(build_server(root)) as searcher, Client(build_server(root)) as other:
        await other.call_tool("list_directory", {"path": "."})

        async def browse() -> None:
            nonlocal slowest, trips
            last = time.perf_counter()
            while not done.is_set():
                await other.call_tool("list_directory", {"path": "."})
                await anyio.sleep(0.01)
                now = time.perf_counter()  # the gap includes the sleep: a stalled loop wakes late
                slowest, last = max(slowest, now - last), now
                trips += 1

        async with anyio.create_task_group() as tg:
            tg.start_soon(browse)
            await anyio.sleep(0.05)
            start = time.perf_counter()
            await searcher.call_tool("search_files", {"pattern": "*", "content": "(a+)+$", "regex": True})
            elapsed = time.perf_counter() - start
            done.set()
    return elapsed, slowest, trips


def until_factory(ws: Any) -> Any:
    async def until(kind: str) -> dict[str, Any]:
        while True:
            event = json.loads(await ws.recv())
            if event["type"] == kind:
                return event

    return until


def user_text(text: str) -> str:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    return json.dumps({"type": "conversation.item.create", "item": item})


async def starvation(per_session_calls: int, hold_s: float) -> float:
    """Seconds for a quick call in one session while another has four calls hanging."""
    server = MCPServer("shared")
    release = anyio.Event()

    @server.tool()
    async def hang(n: int) -> str:
        """Waits for a very slow backend."""
        await release.wait()
        return "finally"

    @server.tool()
    async def quick(city: str) -> str:
        """Answers at once."""
        return f"quick answer for {city}"

    def sim(target: str, **kw: Any) -> Any:
        return open_upstream(target, sim_config=SimConfig(speed=0), **kw)

    settings = ServeSettings(upstream="sim", host=HostSettings(max_session_calls=per_session_calls))
    async with ToolRegistry([ServerSpec(name="shared", target=server)]) as registry:
        sock = bind_socket("127.0.0.1", 0)
        async with running(create_app(registry, settings, upstream=sim), sock):
            url = f"ws://127.0.0.1:{sock.getsockname()[1]}/v1/realtime"
            async with websockets.connect(url) as greedy, websockets.connect(url) as other:
                g_until, o_until = until_factory(greedy), until_factory(other)
                await g_until("session.created")
                await o_until("session.created")
                await greedy.send(user_text('shared__hang {"n": 1}'))
                for _ in range(4):
                    await greedy.send(json.dumps({"type": "response.create"}))
                for _ in range(4):
                    await g_until("response.mcp_call.in_progress")
                async with anyio.create_task_group() as tg:

                    async def release_later() -> None:
                        await anyio.sleep(hold_s)
                        release.set()

                    tg.start_soon(release_later)
                    start = time.perf_counter()
                    await other.send(user_text('shared__quick {"city": "Lima"}'))
                    await other.send(json.dumps({"type": "response.create"}))
                    await o_until("response.mcp_call.completed")
                    elapsed = time.perf_counter() - start
                    release.set()
    return elapsed


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "evil.txt").write_text("a" * args.a + "!\n")
        (root / "notes.txt").write_text("hello\n")
        re2_compile = fs_search.compile_regex
        fs_search.compile_regex = lambda pattern: re.compile(pattern, re.IGNORECASE)  # type: ignore[assignment]
        before = await regex_stall(root)
        fs_search.compile_regex = re2_compile
        after = await regex_stall(root)
    print(f"regex stall ({args.a} 'a' and '!', pattern (a+)+$):")
    for name, (search_s, slowest_s, trips) in (("before (re)", before), ("after (RE2)", after)):
        print(
            f"  {name:12} search {search_s * 1000:9.1f} ms; the other session's longest gap between "
            f"round trips {slowest_s * 1000:9.1f} ms ({trips} round trips)"
        )
    print(f"starvation (4 calls hanging {args.hold:g} s in one session, max_concurrency 4):")
    off = await starvation(0, args.hold)
    on = await starvation(3, args.hold)
    print(f"  before (no per-session limit): the other session's quick call took {off * 1000:8.1f} ms")
    print(f"  after (max_session_calls 3):   the other session's quick call took {on * 1000:8.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--a", type=int, default=25, help="length of the run of 'a' (each one doubles `re`'s time)"
    )
    parser.add_argument("--hold", type=float, default=3.0)
    anyio.run(main, parser.parse_args())
