"""`mcp-voice mcp NAME`: a plugin's MCP server for any MCP client, over stdio and streamable HTTP.

Real subprocesses, real clients: the mcp SDK's `Client` over both transports, and the MCP
Inspector's CLI (node, installed by `npm ci` in tests/clients) listing the filesystem tools.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from anyio.abc import Process
from conftest import MCP_VOICE, read_all, read_line
from mcp import Client, StdioServerParameters

pytestmark = pytest.mark.anyio

CLIENTS = Path(__file__).parents[1] / "clients"
NOTE = "hello from the jail"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "note.txt").write_text(NOTE)
    (tmp_path / "secret.txt").write_text("not for the model")
    path = tmp_path / "mcp-voice.toml"
    path.write_text('[plugins.filesystem]\nroot = "shared"\n')
    return path


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ("MCP_VOICE_TOKEN", "MCP_VOICE_CONFIG")}
    return {**base, "MCP_VOICE_PLUGINS": "filesystem", **extra}


async def check_filesystem(client: Client, outside: Path) -> None:
    names = {tool.name for tool in (await client.list_tools()).tools}
    assert {"read_file", "list_directory"} <= names
    result = await client.call_tool("read_file", {"path": "note.txt"})
    assert not result.is_error and NOTE in result.content[0].text
    refused = await client.call_tool("read_file", {"path": str(outside)})
    assert refused.is_error  # the jail holds outside a session too
    assert "not for the model" not in refused.content[0].text


async def test_stdio_with_the_mcp_sdk_client(config: Path) -> None:
    params = StdioServerParameters(
        command=str(MCP_VOICE), args=["mcp", "filesystem", "--config", str(config)], env=env()
    )
    with anyio.fail_after(60):
        async with Client(params) as client:
            await check_filesystem(client, config.parent / "secret.txt")


@asynccontextmanager
async def http_server(*args: str, **extra_env: str) -> AsyncIterator[tuple[Process, str]]:
    command = [str(MCP_VOICE), "mcp", "filesystem", "--transport", "http", "--port", "0", *args]
    process = await anyio.open_process(command, env=env(**extra_env))
    try:
        yield process, await read_line(process)
    finally:
        if process.returncode is None:
            process.terminate()
            with anyio.fail_after(30):
                await process.wait()
        await process.aclose()


async def test_streamable_http_with_the_mcp_sdk_client(config: Path) -> None:
    async with http_server("--config", str(config)) as (_, line):
        assert line.startswith("mcp-voice mcp listening on http://127.0.0.1:"), line
        url = line.split(" on ", 1)[1].strip()
        assert url.endswith("/mcp")
        with anyio.fail_after(60):
            async with Client(url) as client:
                await check_filesystem(client, config.parent / "secret.txt")


async def test_http_beyond_loopback_needs_a_token(config: Path) -> None:
    command = [str(MCP_VOICE), "mcp", "filesystem", "--transport", "http", "--host", "0.0.0.0", "--port", "0"]
    with anyio.fail_after(60):
        done = await anyio.run_process([*command, "--config", str(config)], env=env(), check=False)
    assert done.returncode == 2
    assert b"without API keys" in done.stderr and b"--insecure" not in done.stderr


async def test_http_with_a_token_refuses_requests_without_it(config: Path) -> None:
    async with http_server("--config", str(config), MCP_VOICE_TOKEN="s3cret") as (_, line):
        url = line.split(" on ", 1)[1].strip()
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}).encode()

        def post() -> int:
            request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=20) as response:
                    return response.status
            except urllib.error.HTTPError as exc:
                return exc.code

        assert await anyio.to_thread.run_sync(post) == 401


async def test_unknown_plugin_suggests_the_right_name(config: Path) -> None:
    with anyio.fail_after(60):
        done = await anyio.run_process(
            [str(MCP_VOICE), "mcp", "filesytem", "--config", str(config)], env=env(), check=False
        )
    assert done.returncode == 2
    assert b"did you mean 'filesystem'" in done.stderr


async def test_mcp_inspector_cli_lists_the_filesystem_tools(config: Path) -> None:
    inspector = CLIENTS / "node_modules" / ".bin" / "mcp-inspector"
    assert inspector.exists(), (
        "the MCP Inspector is not installed: run `npm ci` in tests/clients (.ci/run does)"
    )
    command = [
        str(inspector),
        "--cli",
        "-e",
        f"MCP_VOICE_CONFIG={config}",
        "-e",
        "MCP_VOICE_PLUGINS=filesystem",
    ]
    command += [str(MCP_VOICE), "mcp", "filesystem", "--method", "tools/list"]
    with anyio.fail_after(120):
        done = await anyio.run_process(command, env=env(), check=False)
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    listed = json.loads(out[out.index("{") :])
    assert {"read_file", "list_directory"} <= {tool["name"] for tool in listed["tools"]}


async def test_stdio_keeps_stdout_for_the_protocol(config: Path) -> None:
    """Nothing but JSON-RPC may reach stdout: a stray line would break every stdio client."""
    process = await anyio.open_process(
        [str(MCP_VOICE), "mcp", "filesystem", "--config", str(config)], env=env()
    )
    async with process:
        assert process.stdin is not None
        await process.stdin.aclose()  # EOF: the server ends without a request
        with anyio.fail_after(60):
            out = await read_all(process.stdout)
            await process.wait()
    assert out == ""


@pytest.mark.parametrize("host", ["127.0.0.2", "0:0:0:0:0:0:0:1"])
async def test_http_on_other_loopback_spellings_needs_a_token(config: Path, host: str) -> None:
    command = [str(MCP_VOICE), "mcp", "filesystem", "--transport", "http", "--host", host, "--port", "0"]
    with anyio.fail_after(60):
        done = await anyio.run_process([*command, "--config", str(config)], env=env(), check=False)
    assert done.returncode == 2
    assert b"without API keys" in done.stderr


def with_origins(config: Path) -> Path:
    config.write_text(config.read_text() + '[serve]\nallowed_origins = ["https://app.example.com"]\n')
    return config


async def test_http_refuses_rebinding_hosts_and_foreign_origins(config: Path) -> None:
    from raw_http import raw_request

    config = with_origins(config)
    async with http_server("--config", str(config)) as (_, line):
        url = line.split(" on ", 1)[1].strip()
        where, path = url.removeprefix("http://").split("/", 1)
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}).encode()
        mcp = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}

        async def post(**headers: str) -> tuple[int, str]:
            return await raw_request(
                where, "POST", "/" + path, {**mcp, "Connection": "close", **headers}, body
            )

        status, text = await post(Host="evil.example")
        assert status == 403 and "Host 'evil.example'" in text
        status, text = await post(Host=where, Origin="https://evil.example")
        assert status == 403 and "Origin 'https://evil.example'" in text
        # a configured origin and a same-origin page reach the MCP server (which wants initialize first)
        for origin in ("https://app.example.com", f"http://{where}"):
            status, text = await post(Host=where, Origin=origin)
            assert status != 403, text


async def test_http_refuses_a_key_in_the_query(config: Path) -> None:
    async with http_server("--config", str(config), MCP_VOICE_TOKEN="s3cret") as (_, line):
        url = line.split(" on ", 1)[1].strip()
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}).encode()

        def post() -> tuple[int, str]:
            headers = {"Content-Type": "application/json"}
            request = urllib.request.Request(url + "?token=s3cret", data=body, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=20) as response:
                    return response.status, response.read().decode()
            except urllib.error.HTTPError as exc:
                return exc.code, exc.read().decode()

        status, text = await anyio.to_thread.run_sync(post)
        assert status == 401 and "Authorization: Bearer" in text
