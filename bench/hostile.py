"""Hostile input against a real `mcp-voice serve` process, before and after, in the same run.

1. Oversized bodies: 4 parallel unsigned `POST /openai/webhook` of `--mib` MiB each (declared
   `Content-Length`, then chunked) against serve with `[serve] max_body_bytes = 0` (no limit: the
   baseline) and with the default 1 MiB. Printed: the serve process's peak RSS growth (VmHWM -
   VmRSS before) and the wall time, per case.
2. Half-open handshakes: `--conns` connections each send half a request head and hold it;
   after `--hold` seconds, serve's open fds and how many of ours it closed. Baseline: serve's fds
   before the attack (uvicorn alone never closes them: the issue measured 2,000 of 2,000 held).

    python bench/hostile.py [--mib 200] [--conns 2000] [--hold 60]
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

MCP_VOICE = Path(sys.executable).with_name("mcp-voice")
LINE = re.compile(r"listening on ws://127\.0\.0\.1:(\d+)/")
CHUNK = b"x" * (1 << 20)


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


class Serve:
    """`mcp-voice serve` on a free loopback port with `[serve] max_body_bytes = limit`."""

    def __init__(self, folder: Path, limit: int) -> None:
        config = folder / f"limit-{limit}.toml"
        config.write_text(f"[serve]\nmax_body_bytes = {limit}\n")
        secret = "whsec_" + base64.b64encode(b"bench-secret-0123456789").decode()
        env = {
            **os.environ,
            "MCP_VOICE_PLUGINS": "",
            "OPENAI_WEBHOOK_SECRET": secret,
            "OPENAI_API_KEY": "sk-bench",
        }
        env.pop("MCP_VOICE_TOKEN", None)
        command = [str(MCP_VOICE), "serve", "--config", str(config), "--port", "0", "--upstream", "sim"]
        self.process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self.process.stdout is not None
        match = LINE.search(self.process.stdout.readline())
        if match is None:
            raise RuntimeError("serve did not start")
        self.port = int(match.group(1))

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def post_big(port: int, mib: int, chunked: bool) -> str:
    """One unsigned webhook POST of `mib` MiB; returns the status line (or how it ended)."""
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {mib << 20}"
        head = f"POST /openai/webhook HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{framing}\r\n\r\n"
        sock.sendall(head.encode())
        try:
            for _ in range(mib):
                sock.sendall(b"100000\r\n" + CHUNK + b"\r\n" if chunked else CHUNK)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            answer = sock.recv(200).split(b"\r\n", 1)[0].decode()
        except (ConnectionResetError, TimeoutError):
            answer = "reset"
    return answer or "closed"


def bodies(serve: Serve, mib: int, chunked: bool) -> tuple[float, float, list[str]]:
    """4 parallel oversized bodies: (peak RSS growth MiB, seconds, answers)."""
    before = status_kib(serve.pid, "VmRSS")
    answers: list[str] = []
    began = time.monotonic()
    threads = [
        threading.Thread(target=lambda: answers.append(post_big(serve.port, mib, chunked))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    took = time.monotonic() - began
    return (status_kib(serve.pid, "VmHWM") - before) / 1024, took, answers


def half_open(serve: Serve, conns: int, hold: float) -> tuple[int, int, int]:
    """(serve fds before, serve fds after `hold` s, connections serve closed)."""
    fds_before = len(os.listdir(f"/proc/{serve.pid}/fd"))
    socks = []
    for _ in range(conns):
        sock = socket.create_connection(("127.0.0.1", serve.port), timeout=10)
        sock.sendall(b"GET /v1/realtime HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websock")
        socks.append(sock)
    time.sleep(hold)
    fds_after = len(os.listdir(f"/proc/{serve.pid}/fd"))
    closed = 0
    for sock in socks:
        sock.setblocking(False)
        try:
            closed += sock.recv(1) == b""
        except BlockingIOError:
            pass
        except ConnectionResetError:
            closed += 1
        sock.close()
    return fds_before, fds_after, closed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mib", type=int, default=200)
    parser.add_argument("--conns", type=int, default=2000)
    parser.add_argument("--hold", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for limit, label in ((0, "no limit (before)"), (1 << 20, "1 MiB limit (after)")):
            for chunked in (False, True):
                serve = Serve(Path(tmp), limit)  # a fresh process per case: freed memory stays resident
                try:
                    grown, took, answers = bodies(serve, args.mib, chunked)
                finally:
                    serve.stop()
                results[(limit, chunked)] = grown
                kind = "chunked" if chunked else "declared"
                print(
                    f"4 x {args.mib} MiB {kind:8}, {label:20}: serve RSS +{grown:7.1f} MiB, "
                    f"{took:5.1f} s, answers {sorted(set(answers))}",
                    flush=True,
                )
        serve = Serve(Path(tmp), 1 << 20)
        try:
            before, after, closed = half_open(serve, args.conns, args.hold)
        finally:
            serve.stop()
        print(
            f"{args.conns} half-open handshakes held {args.hold:.0f} s: serve fds {before} idle -> "
            f"{after} after; {closed} of {args.conns} closed by serve",
            flush=True,
        )
        for chunked in (False, True):
            after = max(results[(1 << 20, chunked)], 0.1)
            kind = "chunked" if chunked else "declared"
            print(f"RSS growth ratio before/after ({kind}): {results[(0, chunked)] / after:.0f}x")


if __name__ == "__main__":
    main()
