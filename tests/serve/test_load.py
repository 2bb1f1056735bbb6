"""A bounded load test at the wire (bench/load.py runs the full one and prints the figures).

Eight sessions at once through serve, each streaming 20 ms audio frames both ways in real time
while the upstream has the model call a host tool every half second: every frame arrives, and
every call's result is delivered once. Lateness is printed, not asserted (speed is the bench's).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
import websockets
from conftest import serving

from mcp_voice.serve.settings import ServeSettings

pytestmark = pytest.mark.anyio
BENCH = Path(__file__).resolve().parents[2] / "bench" / "load.py"


def load_bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_load", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_load"] = module
    spec.loader.exec_module(module)
    return module


async def test_eight_sessions_in_real_time_lose_no_frame_and_no_tool_result(registry: Any) -> None:
    bench = load_bench()
    upstream = bench.Upstream(bench.Tally(), call_every_s=0.5)
    async with websockets.serve(upstream.handler, "127.0.0.1", 0, max_size=None, compression=None) as fake:
        url = f"ws://127.0.0.1:{fake.sockets[0].getsockname()[1]}"
        async with serving(registry, ServeSettings(upstream=url)) as where:
            tally = await bench.run_level(f"ws://{where}/v1/realtime", upstream, 8, 3.0)
    print(
        f"8 sessions: frames up {tally.up_received}/{tally.up_sent},"
        f" down {tally.down_received}/{tally.down_sent},"
        f" lateness p50 {tally.percentile(0.5):.1f} ms p99 {tally.percentile(0.99):.1f} ms,"
        f" tool calls {tally.calls}, results {tally.results}"
    )
    assert tally.up_sent == 8 * 150 and tally.complete
    assert tally.calls == 8 * 5 and tally.results == tally.calls
