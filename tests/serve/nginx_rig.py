"""Real nginx (the Debian package) running the shipped deploy/nginx.conf in a temporary prefix."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from redis_rig import free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"
TEMP_PATHS = "".join(
    f"    {name}_temp_path temp/{name};\n" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
)


def local_config(text: str, listen: int, backends: Sequence[int]) -> str:
    """The shipped config, pointed at our ports; nginx's temp files kept in the prefix (not /var)."""
    servers = "".join(f"        server 127.0.0.1:{port} max_fails=2 fail_timeout=5s;\n" for port in backends)
    text, count = re.subn(r"(        server 127\.0\.0\.1:\d+ [^\n]*\n)+", servers, text)
    assert count == 1, "deploy/nginx.conf: the upstream's server lines moved"
    text = text.replace("listen 80;", f"listen 127.0.0.1:{listen};")
    text = text.replace("worker_processes auto;", "worker_processes 1;")
    return text.replace("http {\n", "http {\n" + TEMP_PATHS, 1)


@contextmanager
def nginx(backends: Sequence[int], prefix: Path) -> Iterator[int]:
    """nginx in the foreground on a free port in front of `backends`; yields its port."""
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed (apt-get install nginx; .ci/run does it)")
    port = free_port()
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    (prefix / "temp").mkdir(exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(local_config(SHIPPED.read_text(), port, backends))
    process = subprocess.Popen(
        [NGINX, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"nginx exited: {process.stderr.read().decode() if process.stderr else ''}"
                )
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(10)
