"""The web console's figures in real Chromium: load to connected, microphone frame to upstream append,
page weight, and the page's CPU over a spoken conversation against the same page left idle.

    python bench/console.py [--seconds 60]

Serve runs in-process on the simulator with an event log (which stamps every event it sends
upstream); the page's fake microphone loops a speech-like WAV, so the simulator hears a turn
every 2.8 s, answers, and is interrupted by the next one. Microphone latency: the capture time
of each frame (the AudioWorklet's clock mapped to the page's) against the time serve sent that
frame (by its `event_id`) upstream. CPU: the renderer's and the audio service's processes
(/proc, every thread: the worklets included) and the page's main thread (CDP
`Performance.getMetrics` TaskDuration), for the conversation and, as the baseline, for the same
page connected and idle (no microphone) for as long.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import anyio

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "plugins")]

from mcp_voice.serve.settings import ServeSettings  # noqa: E402
from tests.serve.console_rig import CHROMIUM, FLAGS, connected, console_server, speech_wav  # noqa: E402

TICK_S = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command line, CPU seconds) for every process we can read."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        found[int(entry.name)] = (int(fields[1]), cmdline, (int(fields[11]) + int(fields[12])) / TICK_S)
    return found


def chromium_cpu(marker: str) -> dict[str, float]:
    """CPU seconds of our browser's renderer and audio-service processes (found by a marker flag)."""
    procs = _processes()
    roots = [pid for pid, (_, cmd, _) in procs.items() if marker in cmd]
    tree = set(roots)
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _, _) in procs.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    cpu = {"renderer": 0.0, "audio": 0.0, "all": 0.0}
    for pid in tree:
        _, cmd, seconds = procs[pid]
        cpu["all"] += seconds
        if "--type=renderer" in cmd:
            cpu["renderer"] += seconds
        elif "audio.mojom.AudioService" in cmd:
            cpu["audio"] += seconds
    return cpu


async def task_seconds(cdp: Any) -> float:
    metrics = (await cdp.send("Performance.getMetrics"))["metrics"]
    return float(next(m["value"] for m in metrics if m["name"] == "TaskDuration"))


async def measure(seconds: float) -> None:
    from playwright.async_api import async_playwright

    work = Path(tempfile.mkdtemp(prefix="console-bench-"))
    wav = speech_wav(work / "speech.wav")
    marker = f"--mcp-voice-bench={uuid.uuid4().hex}"
    settings = ServeSettings(event_log_dir=str(work / "log"), event_log_max_bytes=200 * 2**20)
    async with console_server(settings) as served, async_playwright() as pw:
        flags = [*FLAGS, f"--use-file-for-fake-audio-capture={wav}", marker]
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=flags)
        page = await (await browser.new_context()).new_page()
        weight: dict[str, int] = {}

        async def body_size(response: Any) -> None:
            try:
                weight[response.url] = len(await response.body())
            except Exception:  # a response without a body (redirect, socket)
                pass

        page.on("response", body_size)
        loads = []
        for _ in range(5):  # load to connected, a few times (the first pays for compiling)
            await page.goto(served.url + "/")
            await connected(page)
            loads.append(await page.evaluate("window.mcpConsole.stats.loadToConnectedMs"))
        await anyio.sleep(0.5)
        cdp = await page.context.new_cdp_session(page)
        await cdp.send("Performance.enable")

        async def window(mic: bool) -> tuple[dict[str, float], float]:
            if mic:
                await page.click("#mic")
            cpu0, main0 = chromium_cpu(marker), await task_seconds(cdp)
            await anyio.sleep(seconds)
            cpu1, main1 = chromium_cpu(marker), await task_seconds(cdp)
            return {k: cpu1[k] - cpu0[k] for k in cpu0}, main1 - main0

        idle_cpu, idle_main = await window(mic=False)
        talk_cpu, talk_main = await window(mic=True)
        page_kb = sum(weight.values()) / 1024  # every file the page fetched, worklets included
        stats = await page.evaluate(
            "(s => ({frames: [...s.frameTimes], sent: s.micToSendMs, played: s.playedSamples,"
            " truncations: s.truncations.length, responses: s.responses}))(window.mcpConsole.stats)"
        )
        await browser.close()
    captured = dict(stats["frames"])
    upstream = [
        e["_t"] * 1000 - captured[e["event_id"]]
        for e in served.upstream_events()
        if e["type"] == "input_audio_buffer.append" and e.get("event_id") in captured
    ]

    def show(name: str, values: list[float]) -> None:
        values = sorted(values)
        p50, p95 = statistics.median(values), values[int(len(values) * 0.95) - 1]
        print(f"{name:<44} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   (n={len(values)})")

    print(f"page weight (every file it fetched, uncompressed) {page_kb:5.1f} kB")
    show("page load to connected", loads)
    show("mic frame captured -> ws.send (page)", stats["sent"])
    show("mic frame captured -> sent upstream (serve)", upstream)
    print(
        f"conversation: {stats['responses']} responses, {stats['played'] / 24000:.1f} s of reply played, "
        f"{stats['truncations']} barge-ins"
    )
    print(f"CPU over {seconds:.0f} s (share of one core)      idle page   conversation   ratio")
    for name, idle, talk in [
        ("renderer process (main thread + worklets)", idle_cpu["renderer"], talk_cpu["renderer"]),
        ("audio service process", idle_cpu["audio"], talk_cpu["audio"]),
        ("all of chromium", idle_cpu["all"], talk_cpu["all"]),
        ("page main thread (CDP TaskDuration)", idle_main, talk_main),
    ]:
        ratio = f"{talk / idle:6.1f}x" if idle > 0 else "     -"
        print(f"  {name:<44} {100 * idle / seconds:6.1f}%   {100 * talk / seconds:8.1f}%   {ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each CPU window")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit("needs Debian's chromium at /usr/bin/chromium")
    anyio.run(measure, args.seconds)


if __name__ == "__main__":
    main()
