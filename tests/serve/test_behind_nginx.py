"""Two real `mcp-voice serve` processes sharing a real Redis, behind real nginx running deploy/nginx.conf."""

from __future__ import annotations

import json
import re
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import pytest
import websockets
from conftest import http_get, serve_process, write_config
from nginx_rig import nginx
from redis_rig import redis_server
from test_serve_keys import bearer, http, until
from test_twilio_webhook import FORM, VOICE_URL, post
from twilio_wire import AUTH_TOKEN, PUBLIC_URL, twilio_signature

pytestmark = pytest.mark.anyio

KEY = "key-behind-nginx-1"
LINE = re.compile(r"ws://127\.0\.0\.1:(\d+)/v1/realtime")


async def sessions_on(port: int) -> int:
    _, body = await http_get(f"http://127.0.0.1:{port}/healthz")
    return int(json.loads(body)["sessions"])


async def test_sessions_secrets_and_twilio_through_nginx(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    env = {"MCP_VOICE_API_KEYS": KEY, "TWILIO_AUTH_TOKEN": AUTH_TOKEN}
    with redis_server() as redis:
        args = ("--port", "0", "--upstream", "sim", "--state", redis.url, "--public-url", PUBLIC_URL)
        async with AsyncExitStack() as stack:
            ports = []
            for _ in range(2):
                _, line = await stack.enter_async_context(
                    serve_process(*args, "--config", str(config), env=env)
                )
                ports.append(int(LINE.search(line).group(1)))  # type: ignore[union-attr]
            front = stack.enter_context(nginx(ports, tmp_path / "nginx"))
            base = f"127.0.0.1:{front}"

            status, body = await http_get(f"http://{base}/readyz")
            assert status == 200 and json.loads(body)["state"] == redis.url

            # sessions through nginx land on both processes
            sockets: list[Any] = []
            for _ in range(4):
                ws = await stack.enter_async_context(
                    websockets.connect(f"ws://{base}/v1/realtime", additional_headers=bearer(KEY))
                )
                await until(ws, "session.created")
                sockets.append(ws)
            assert [await sessions_on(port) for port in ports] == [2, 2]

            # a secret minted through nginx opens sessions wherever nginx sends them
            minted = {"session": {"type": "realtime", "instructions": "Through nginx."}}
            status, text = await http(
                "POST", f"http://{base}/v1/realtime/client_secrets", minted, bearer(KEY)
            )
            assert status == 200
            protocols: Any = ["realtime", f"openai-insecure-api-key.{json.loads(text)['value']}"]
            for _ in range(2):
                async with websockets.connect(f"ws://{base}/v1/realtime", subprotocols=protocols) as ws:
                    updated = await until(ws, "session.updated")
                    while "instructions" not in updated["session"]:
                        updated = await until(ws, "session.updated")
                    assert updated["session"]["instructions"] == "Through nginx."

            # Twilio signs the public URL; nginx forwards the public host and scheme
            forwarded = {"X-Forwarded-Proto": "https", "Host": PUBLIC_URL.removeprefix("https://")}
            signed = {**forwarded, "X-Twilio-Signature": twilio_signature(AUTH_TOKEN, VOICE_URL, FORM)}
            status, kind, twiml = await post(base, FORM, signed)
            assert status == 200 and "xml" in kind
            assert f'url="{PUBLIC_URL.replace("https", "wss")}/twilio/media"' in twiml
            status, _, _ = await post(base, {**FORM, "CallSid": "CA999"}, forwarded)  # unsigned
            assert status == 403
            status, _, text = await post(base, FORM, signed)  # the same call again, on either process
            assert status == 409

            with anyio.fail_after(10):
                for ws in sockets:
                    await ws.close()


def test_the_kubernetes_example_gives_the_drain_its_time() -> None:
    """terminationGracePeriodSeconds covers preStop + drain_s; readiness is /readyz, liveness /healthz."""
    import tomllib

    import yaml

    k8s = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
    deployment = next(
        d for d in yaml.safe_load_all((k8s / "deployment.yaml").read_text()) if d["kind"] == "Deployment"
    )
    configmap = yaml.safe_load((k8s / "configmap.yaml").read_text())
    serve = tomllib.loads(configmap["data"]["mcp-voice.toml"])["serve"]
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod["terminationGracePeriodSeconds"] > pre_stop + serve["drain_s"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    ingress = yaml.safe_load((k8s / "ingress.yaml").read_text())["metadata"]["annotations"]
    assert int(ingress["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
