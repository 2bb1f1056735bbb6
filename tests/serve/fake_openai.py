"""A fake OpenAI for calls that never pass through serve: webhooks, the calls REST API, the sideband.

Starlette on loopback (served by the same uvicorn runner as serve). It signs and sends
`realtime.call.incoming` webhooks, records `accept` / `reject` / `refer` / `hangup` and
`POST /v1/realtime/calls` (every body validated against the openai SDK's param types, unknown
keys refused), answers WebRTC offers with SDP and a `Location`, and serves the sideband
WebSocket: it acknowledges items and responses like the model server would, and lets the test
play the model (function calls, barge-in, DTMF) and end or drop the call.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
from openai.types.realtime import RealtimeClientEvent
from openai.types.realtime.call_accept_params import CallAcceptParams
from openai.types.realtime.call_create_params import CallCreateParams
from openai.types.realtime.call_refer_params import CallReferParams
from openai.types.realtime.call_reject_params import CallRejectParams
from openai.types.webhooks.realtime_call_incoming_webhook_event import RealtimeCallIncomingWebhookEvent
from pydantic import TypeAdapter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from mcp_voice.serve.run import bind_socket, running
from tests.session.wire import ev, function_call_item, response_obj

Event = dict[str, Any]
API_KEY = "sk-test-upstream-key"
SECRET = "whsec_" + base64.b64encode(b"fake-openai-webhook-signing-key!").decode()
ANSWER_SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=fake answer\r\n"
WAIT_S = 15.0

_PARAMS: dict[str, Any] = {
    "accept": CallAcceptParams,
    "reject": CallRejectParams,
    "refer": CallReferParams,
}
_CLIENT_EVENT: TypeAdapter[Any] = TypeAdapter(RealtimeClientEvent)


def validate_params(params: Any, body: Any) -> None:
    """`body` fits the SDK's TypedDict: its types, its required keys, and no key it does not know."""
    assert isinstance(body, dict), body
    unknown = set(body) - (params.__required_keys__ | params.__optional_keys__)
    assert not unknown, f"{params.__name__} has no {sorted(unknown)}"
    TypeAdapter(params).validate_python(body)


def sign(secret: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def incoming_event(call_id: str, sip_headers: dict[str, str]) -> bytes:
    event = {
        "id": "evt_" + secrets.token_hex(8),
        "object": "event",
        "created_at": int(time.time()),
        "type": "realtime.call.incoming",
        "data": {
            "call_id": call_id,
            "sip_headers": [{"name": k, "value": v} for k, v in sip_headers.items()],
        },
    }
    RealtimeCallIncomingWebhookEvent.model_validate(event)
    return json.dumps(event).encode()


@dataclass
class Request_:
    verb: str
    call_id: str | None
    body: Any
    headers: dict[str, str]


@dataclass
class FakeCall:
    """One call at the fake: its sideband connections, what serve sent over them, and the model's script."""

    call_id: str
    connections: int = 0
    headers: list[dict[str, str]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    connected: anyio.Event = field(default_factory=anyio.Event)
    ended: bool = False
    _outbox: Any = None
    _inbox: Any = None
    _inbox_rx: Any = None
    _close: anyio.Event = field(default_factory=anyio.Event)
    _disconnected: anyio.Event = field(default_factory=anyio.Event)
    _close_code: int = 1000

    def __post_init__(self) -> None:
        self._inbox, self._inbox_rx = anyio.create_memory_object_stream[Event](math.inf)

    # -- the model's side ------------------------------------------------------------------------

    async def play(self, *events: Event) -> None:
        for event in events:
            await self._outbox.send(event)

    async def next(self, kind: str, match: Callable[[Event], bool] = lambda e: True) -> Event:
        """The next event of `kind` serve sent (others skipped)."""
        with anyio.fail_after(WAIT_S):
            while True:
                event = await self._inbox_rx.receive()
                if event["type"] == kind and match(event):
                    return event

    async def respond(self, *items: Event) -> str:
        """One response whose output is `items`."""
        rid = "resp_" + secrets.token_hex(6)
        await self.play(ev("response.created", response=response_obj(rid)))
        for index, item in enumerate(items):
            await self.play(
                ev("response.output_item.added", response_id=rid, output_index=index, item=item),
                ev("response.output_item.done", response_id=rid, output_index=index, item=item),
                ev("conversation.item.done", item=item),
            )
        await self.play(ev("response.done", response=response_obj(rid, "completed", list(items))))
        return rid

    async def call_tool(self, name: str, arguments: Event | None = None) -> Event:
        item = function_call_item(name, json.dumps(arguments or {}))
        await self.respond(item)
        return item

    async def output_for(self, call_id: str) -> str:
        """The `function_call_output` serve sends for the model's call `call_id`."""
        event = await self.next(
            "conversation.item.create",
            lambda e: e["item"].get("type") == "function_call_output" and e["item"]["call_id"] == call_id,
        )
        return str(event["item"]["output"])

    async def wait_connections(self, count: int) -> None:
        """Until the sideband has been opened `count` times (a reconnect makes it 2)."""
        with anyio.fail_after(WAIT_S):
            while self.connections < count:
                await self.connected.wait()
                if self.connections < count:
                    await self._disconnected.wait()

    def sent(self, kind: str) -> list[Event]:
        return [e for e in self.events if e["type"] == kind]

    async def end(self) -> None:
        """The call is over (hang-up at either end): OpenAI closes the sideband normally."""
        self.ended = True
        self._close_code = 1000
        self._close.set()

    async def drop(self) -> None:
        """The sideband connection breaks; the call goes on."""
        self._close_code = 1011
        self._close.set()

    # -- the WebSocket -------------------------------------------------------------------------

    async def serve(self, ws: WebSocket) -> None:
        if self.ended:
            await ws.close(4004, "call ended")
            return
        await ws.accept()
        self.connections += 1
        self.headers.append({k.lower(): v for k, v in ws.headers.items()})
        self._close = anyio.Event()
        self._disconnected = anyio.Event()
        send, receive = anyio.create_memory_object_stream[Event](math.inf)
        self._outbox = send
        session = {"type": "realtime", "object": "realtime.session", "id": "sess_" + self.call_id}
        await ws.send_text(json.dumps(ev("session.created", session=session)))
        self.connected.set()
        async with anyio.create_task_group() as tg:

            async def pump() -> None:
                async for event in receive:
                    await ws.send_text(json.dumps(event))

            async def closer() -> None:
                await self._close.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(pump)
            tg.start_soon(closer)
            try:
                while True:
                    event = json.loads(await ws.receive_text())
                    _CLIENT_EVENT.validate_python(event)  # every event serve sends is valid GA
                    self.events.append(event)
                    self._inbox.send_nowait(event)
                    await self._model(event)
            except WebSocketDisconnect:
                tg.cancel_scope.cancel()
                return
            finally:
                self.connected = anyio.Event()
                self._disconnected.set()
        await ws.close(self._close_code)

    async def _model(self, event: Event) -> None:
        """What the server does by itself: acknowledge items, run (empty) responses, echo updates."""
        kind = event["type"]
        if kind == "conversation.item.create":
            item = {**event["item"], "object": "realtime.item", "status": "completed"}
            await self.play(ev("conversation.item.added", item=item), ev("conversation.item.done", item=item))
        elif kind == "response.create":
            await self.respond()
        elif kind == "session.update":
            await self.play(ev("session.updated", session={"type": "realtime", **event["session"]}))


@dataclass
class FakeOpenAI:
    url: str = ""
    requests: list[Request_] = field(default_factory=list)
    calls: dict[str, FakeCall] = field(default_factory=dict)
    changed: anyio.Event = field(default_factory=anyio.Event)
    http: httpx2.AsyncClient = field(default_factory=lambda: httpx2.AsyncClient(timeout=30))

    @property
    def rest_base(self) -> str:
        return f"{self.url}/v1"

    @property
    def ws_base(self) -> str:
        return self.rest_base.replace("http://", "ws://")

    def call(self, call_id: str) -> FakeCall:
        return self.calls.setdefault(call_id, FakeCall(call_id))

    def requests_for(self, verb: str) -> list[Request_]:
        return [r for r in self.requests if r.verb == verb]

    async def wait_request(self, verb: str, count: int = 1) -> Request_:
        with anyio.fail_after(WAIT_S):
            while len(self.requests_for(verb)) < count:
                await self.changed.wait()
        return self.requests_for(verb)[count - 1]

    def _record(self, request: Request_) -> None:
        self.requests.append(request)
        self.changed.set()
        self.changed = anyio.Event()

    # -- routes ---------------------------------------------------------------------------------

    async def call_verb(self, request: Request) -> Response:
        call_id, verb = request.path_params["call_id"], request.path_params["verb"]
        headers = {k.lower(): v for k, v in request.headers.items()}
        if headers.get("authorization") != f"Bearer {API_KEY}":
            return JSONResponse({"error": {"message": "bad key"}}, status_code=401)
        raw = await request.body()
        body = json.loads(raw) if raw else None
        if verb in _PARAMS:
            validate_params(_PARAMS[verb], body)
        elif verb != "hangup":
            return PlainTextResponse("no such verb", status_code=404)
        self._record(Request_(verb, call_id, body, headers))
        if verb == "hangup" and call_id in self.calls:
            await self.calls[call_id].end()
        return Response(status_code=200)

    async def create_call(self, request: Request) -> Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        if headers.get("authorization") != f"Bearer {API_KEY}":
            return JSONResponse({"error": {"message": "bad key"}}, status_code=401)
        async with request.form() as form:
            body: dict[str, Any] = {"sdp": form.get("sdp")}
            if form.get("session") is not None:
                body["session"] = json.loads(str(form.get("session")))
        validate_params(CallCreateParams, body)
        assert str(body["sdp"]).startswith("v=0")
        call_id = "rtc_" + secrets.token_hex(6)
        self.call(call_id)
        self._record(Request_("create", call_id, body, headers))
        return Response(
            ANSWER_SDP,
            status_code=201,
            media_type="application/sdp",
            headers={"Location": f"/v1/realtime/calls/{call_id}"},
        )

    async def sideband(self, ws: WebSocket) -> None:
        call_id = ws.query_params.get("call_id", "")
        if ws.headers.get("authorization") != f"Bearer {API_KEY}" or call_id not in self.calls:
            await ws.close(4001, "unknown call or bad key")
            return
        await self.calls[call_id].serve(ws)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/realtime/calls", self.create_call, methods=["POST"]),
                Route("/v1/realtime/calls/{call_id}/{verb}", self.call_verb, methods=["POST"]),
                WebSocketRoute("/v1/realtime", self.sideband),
            ]
        )

    # -- webhooks --------------------------------------------------------------------------------

    async def ring(
        self,
        serve_url: str,
        call_id: str,
        sip_headers: dict[str, str] | None = None,
        *,
        secret: str = SECRET,
        webhook_id: str | None = None,
        timestamp: int | None = None,
        tamper: bool = False,
    ) -> httpx2.Response:
        """Send `realtime.call.incoming` for a new call to serve's webhook, signed with `secret`."""
        self.call(call_id)
        body = incoming_event(call_id, sip_headers or {"From": "<sip:+15550100@example.com>"})
        headers = webhook_headers(body, secret=secret, webhook_id=webhook_id, timestamp=timestamp)
        if tamper:
            body = body.replace(b"+1555", b"+1666")
        return await self.http.post(f"{serve_url}/openai/webhook", content=body, headers=headers)


def webhook_headers(
    body: bytes, *, secret: str = SECRET, webhook_id: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    webhook_id = webhook_id or "wh_" + secrets.token_hex(8)
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": stamp,
        "webhook-signature": sign(secret, webhook_id, stamp, body),
        "content-type": "application/json",
    }


@asynccontextmanager
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI()
    sock = bind_socket("127.0.0.1", 0)
    async with fake.http, running(fake.app(), sock):
        fake.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        yield fake
