"""Run the benchmarks and write BENCHMARKS.md: one table, each row with its reproducing command.

Every ratio compares figures measured in this same run (the machine is shared and noisy; absolute
numbers from different runs do not compare). Rows:

- tool round trip at the wire (bench/wire.py): serve's host vs the raw MCP call, in-process and
  stdio, and vs openai-agents' RealtimeSession with the same tool (in-process and stdio), one fake
  upstream process;
- relay audio frames/s, up and down (bench/relay.py): serve vs a bare websockets relay;
- the late result's response.create delay after the blocking response.done (bench/host.py);
- sessions held in real time and memory per idle session (bench/load.py, run as its own process:
  it starts both relays as processes of their own).

    python bench/report.py [--quick] [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import host
import relay
import wire

ROOT = Path(__file__).resolve().parent.parent


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as info:
            kib = int(next(line for line in info if line.startswith("MemTotal")).split()[1])
            memory = f", {kib / 1024 / 1024:.1f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    load = ""
    if hasattr(os, "getloadavg"):
        load = ", load average {:.2f} {:.2f} {:.2f} at the start".format(*os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} logical CPUs{memory}{load}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}"
    )


def table(
    w: dict[str, Any], r: dict[str, float], h: dict[str, float], load: str, args: argparse.Namespace
) -> list[str]:
    p50, p99 = w["p50"], w["p99"]
    wire_cmd = f"`python bench/wire.py --calls {args.calls} --rounds {args.rounds}`"
    relay_cmd = f"`python bench/relay.py --frames {args.frames} --rounds {args.rounds}`"
    host_cmd = f"`python bench/host.py --calls {args.calls}`"
    rows = [
        "| Measure | mcp-voice | Baseline (same run) | Difference / ratio | Goal | Command |",
        "|---|---|---|---|---|---|",
        (
            f"| Tool round trip at the wire, tool in-process (p50 / p99) | {p50['ours_inprocess']:.3f} / "
            f"{p99['ours_inprocess']:.3f} ms | raw MCP `call_tool` in-process {p50['raw_inprocess']:.3f} / "
            f"{p99['raw_inprocess']:.3f} ms | host overhead {w['overhead_inprocess']:+.3f} ms (p50) | "
            f"| {wire_cmd} |"
        ),
        (
            f"| Tool round trip at the wire, tool over stdio (p50 / p99) | {p50['ours_stdio']:.3f} / "
            f"{p99['ours_stdio']:.3f} ms | raw MCP `call_tool` over stdio {p50['raw_stdio']:.3f} / "
            f"{p99['raw_stdio']:.3f} ms | host overhead {w['overhead_stdio']:+.3f} ms (p50) | | {wire_cmd} |"
        ),
        (
            "| Same round trip vs openai-agents `RealtimeSession` (in-process tool, p50) | "
            f"{p50['ours_inprocess']:.3f} ms | openai-agents {p50['agents_inprocess']:.3f} ms "
            f"(p99 {p99['agents_inprocess']:.3f}) | {w['ours_vs_agents_inprocess']:.2f}x | <= 0.5x "
            f"| {wire_cmd} |"
        ),
        (
            "| Same round trip vs openai-agents `RealtimeSession` (stdio tool, p50) | "
            f"{p50['ours_stdio']:.3f} ms | openai-agents {p50['agents_stdio']:.3f} ms "
            f"(p99 {p99['agents_stdio']:.3f}) | "
            f"{w['ours_vs_agents']:.2f}x | <= 0.5x | {wire_cmd} |"
        ),
        (
            f"| Relay, client -> upstream audio frames/s | {r['up_serve_fps']:.0f} | bare websockets relay "
            f"{r['up_bare_fps']:.0f} | {r['up_ratio']:.2f}x | >= 0.8x | {relay_cmd} |"
        ),
        (
            f"| Relay, upstream -> client audio frames/s | {r['down_serve_fps']:.0f} | bare websockets relay "
            f"{r['down_bare_fps']:.0f} | {r['down_ratio']:.2f}x | >= 0.8x | {relay_cmd} |"
        ),
        (
            f"| Late result: `response.create` after the blocking `response.done` (p50 / p99) | "
            f"{h['injection_p50']:.3f} / {h['injection_p99']:.3f} ms | | | <= 1 ms | {host_cmd} |"
        ),
        *load_rows(load),
    ]
    return rows


def run_load(quick: bool) -> str:
    """bench/load.py's output (its own process: it starts serve and a bare relay as processes)."""
    args = ["--seconds", "2", "--max-sessions", "200", "--idle", "200"] if quick else []
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "load.py"), *args], capture_output=True, text=True, check=True
    )
    return done.stdout


def load_rows(output: str) -> list[str]:
    held = re.search(r"sessions held: serve (\d+), bare relay (\d+): ratio ([\d.]+)x", output)
    idle = re.search(r"(\d+) idle sessions: serve ([\d.]+) kB/session, bare ([\d.]+) kB/session", output)
    command = "`python bench/load.py`"
    rows = []
    if held:
        rows.append(
            f"| Live sessions held in real time (20 ms frames both ways, a tool call every 2 s) | "
            f"{held[1]} | bare websockets relay {held[2]} | {float(held[3]):.2f}x | >= 1.0x | {command} |"
        )
    if idle:
        rows.append(
            f"| Memory per idle session ({idle[1]} sessions) | {idle[2]} kB | bare websockets relay "
            f"{idle[3]} kB | | | {command} |"
        )
    missing = f"| Sessions held / memory per session | bench/load.py printed no figures | | | | {command} |"
    return rows or [missing]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer calls and frames (a smoke run)")
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = parser.parse_args()
    args.calls, args.rounds, args.frames = (60, 1, 2000) if args.quick else (300, 3, 20000)
    started = datetime.datetime.now(datetime.UTC)
    where = machine()
    print("== tool round trip at the wire", flush=True)
    w = anyio.run(wire.main, args.calls, args.rounds)
    print("== relay frames/s", flush=True)
    r = asyncio.run(relay.main(args.frames, args.rounds))
    print("== late-result injection delay", flush=True)
    h = anyio.run(host.main, args.calls)
    print("== sessions held (bench/load.py)", flush=True)
    load = run_load(args.quick)
    lines = [
        "# Benchmarks",
        "",
        "Written by `python bench/report.py`"
        + (" --quick" if args.quick else "")
        + f" on {started:%Y-%m-%d %H:%M} UTC. Machine: {where}.",
        "",
        "Ratios and differences compare figures from this same run; the machine is shared and noisy, so",
        'figures from different runs do not compare. "At the wire": a fake upstream in another process',
        "(bench/fake_upstream.py) sends a completed `function_call` item and times the",
        "`function_call_output`.",
        "",
        *table(w, r, h, load, args),
        "",
    ]
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
