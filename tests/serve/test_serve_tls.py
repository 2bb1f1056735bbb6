"""`serve --tls-cert/--tls-key`: wss:// and https:// with a certificate the test makes; what serve prints."""

from __future__ import annotations

import json
import ssl
import sys
import urllib.request
from pathlib import Path

import anyio
import pytest
import websockets
from conftest import MCP_VOICE, read_line, serve_process, write_config

pytestmark = pytest.mark.anyio

CLIENTS = Path(__file__).parents[1] / "clients"


def certificate(folder: Path) -> tuple[Path, Path]:
    sys.path.insert(0, str(CLIENTS))
    try:
        from certs import make_certificate
    finally:
        sys.path.remove(str(CLIENTS))
    return make_certificate(folder)


async def test_wss_and_https_with_the_listening_line_saying_so(tmp_path: Path) -> None:
    cert, key = certificate(tmp_path)
    config = write_config(tmp_path)
    args = [
        "--port",
        "0",
        "--upstream",
        "sim",
        "--config",
        str(config),
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
    ]
    async with serve_process(*args) as (process, line):
        assert line.startswith("mcp-voice listening on wss://127.0.0.1:"), line
        port = int(line.split(":")[2].split("/")[0])
        # then what it loaded, for the person who started it
        assert await read_line(process) == "  plugins: none\n"
        assert await read_line(process) == "  tools: 2 (testtools 2)\n"
        trust = ssl.create_default_context(cafile=str(cert))
        async with websockets.connect(f"wss://127.0.0.1:{port}/v1/realtime", ssl=trust) as ws:
            with anyio.fail_after(20):
                assert json.loads(await ws.recv())["type"] == "session.created"

        def healthz() -> dict:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", context=trust, timeout=20) as r:
                return json.loads(r.read())

        assert (await anyio.to_thread.run_sync(healthz))["tools"] == 2
        with pytest.raises((OSError, websockets.exceptions.InvalidMessage)):
            async with websockets.connect(f"ws://127.0.0.1:{port}/v1/realtime", open_timeout=10):
                pass  # plain ws:// to a TLS port never becomes a session


async def test_tls_from_the_config_file(tmp_path: Path) -> None:
    certificate(tmp_path)  # cert.pem and key.pem
    config = write_config(
        tmp_path, '\n[serve]\ntls_cert = "cert.pem"\ntls_key = "key.pem"\n'
    )  # beside the file
    async with serve_process("--port", "0", "--upstream", "sim", "--config", str(config)) as (_, line):
        assert line.startswith("mcp-voice listening on wss://"), line


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--tls-cert", "cert.pem"], "TLS needs both a certificate (--tls-cert) and its key (--tls-key)"),
        (["--tls-cert", "cert.pem", "--tls-key", "missing.pem"], "missing.pem does not exist"),
        (["--tls-cert", "key.pem", "--tls-key", "key.pem"], "cannot use"),
    ],
)
async def test_a_bad_certificate_is_refused_before_listening(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    certificate(tmp_path)
    config = write_config(tmp_path)
    command = [str(MCP_VOICE), "serve", "--port", "0", "--upstream", "sim", "--config", str(config), *extra]
    with anyio.fail_after(60):
        done = await anyio.run_process(command, cwd=tmp_path, check=False, env={"MCP_VOICE_PLUGINS": ""})
    assert done.returncode == 2, done.stderr
    assert message in done.stderr.decode()
    assert done.stdout == b""
