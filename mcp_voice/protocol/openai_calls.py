"""OpenAI's Realtime calls API over HTTP: accept, reject, refer, hang up, and create a WebRTC call.

The shapes follow the `openai` SDK (`resources/realtime/calls.py`): JSON bodies for
`/realtime/calls/{call_id}/accept|reject|refer|hangup`, a multipart `sdp` + `session` body for
`POST /realtime/calls` whose answer is SDP with the call in its `Location`. URLs follow the SDK's
conventions too, so a test (or a proxy) is one `OPENAI_BASE_URL` away: the REST base defaults to
`https://api.openai.com/v1`, and the WebSocket base is the REST base with `ws`/`wss` unless set.

Serve answers calls with it, and so does the call-control plugin's `hang_up` / `transfer`; it
imports nothing from the session or serve rooms.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx2

BASE_URL_ENV = "OPENAI_BASE_URL"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
REQUEST_TIMEOUT_S = 15.0


class CallsAPIError(Exception):
    """OpenAI refused a calls request (or could not be reached); the message never holds the key."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def base_url(env: Mapping[str, str], configured: str | None = None) -> str:
    """The REST base: `configured`, else `$OPENAI_BASE_URL`, else OpenAI's (the SDK's order)."""
    return (configured or env.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")


def websocket_base_url(rest_base: str, configured: str | None = None) -> str:
    """The WebSocket base: `configured`, else the REST base with http -> ws, https -> wss."""
    if configured:
        return configured.rstrip("/")
    parts = urlsplit(rest_base)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return urlunsplit(parts._replace(scheme=scheme)).rstrip("/")


def sideband_url(ws_base: str, call_id: str) -> str:
    """`{ws_base}/realtime?call_id=...`: the same session as the call, seen from a server."""
    return f"{ws_base}/realtime?call_id={quote(call_id, safe='')}"


def call_id_from_location(location: str | None) -> str | None:
    """`/v1/realtime/calls/rtc_123` (or a full URL) -> `rtc_123`."""
    if not location:
        return None
    last = urlsplit(location).path.rstrip("/").rpartition("/")[2]
    return last or None


@dataclass(frozen=True)
class CreatedCall:
    """`POST /realtime/calls`'s answer: the SDP for the browser and the call for the sideband."""

    sdp: str
    call_id: str | None
    location: str | None
    status: int


def tls_context_once() -> Callable[[], ssl.SSLContext]:
    """A TLS context made on first use and then reused: making one costs ~30 ms (loading the CA
    store), which would otherwise delay every answered call. One per owner, not a global."""
    made: list[ssl.SSLContext] = []

    def get() -> ssl.SSLContext:
        if not made:
            made.append(httpx2.create_ssl_context())
        return made[0]

    return get


@dataclass
class CallsAPI:
    """A small client of the calls endpoints. `async with CallsAPI(...) as api:` or `aclose()`."""

    api_key: str = field(repr=False)
    base: str = DEFAULT_BASE_URL
    timeout_s: float = REQUEST_TIMEOUT_S
    tls: Callable[[], ssl.SSLContext] | None = field(default=None, repr=False)
    """Where the TLS context comes from (`tls_context_once()`); None: a fresh default one."""
    _client: httpx2.AsyncClient | None = field(default=None, init=False, repr=False)

    async def __aenter__(self) -> CallsAPI:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def client(self) -> httpx2.AsyncClient:
        if self._client is None:
            self._client = httpx2.AsyncClient(
                timeout=self.timeout_s,
                headers={"Authorization": f"Bearer {self.api_key}"},
                verify=self.tls() if self.tls is not None else True,
            )
        return self._client

    async def accept(self, call_id: str, session: Mapping[str, Any]) -> None:
        """Answer a ringing SIP call with a session config (`type: "realtime"` is added if missing)."""
        await self._post(call_id, "accept", {"type": "realtime", **session})

    async def reject(self, call_id: str, status_code: int | None = None) -> None:
        await self._post(call_id, "reject", {} if status_code is None else {"status_code": status_code})

    async def refer(self, call_id: str, target_uri: str) -> None:
        """Transfer the call (SIP REFER) to a `tel:` or `sip:` URI."""
        await self._post(call_id, "refer", {"target_uri": target_uri})

    async def hangup(self, call_id: str) -> None:
        await self._post(call_id, "hangup", None)

    async def create(self, sdp: str, session: Mapping[str, Any] | None) -> CreatedCall:
        """Start a WebRTC call from a browser's SDP offer; returns the SDP answer and the call id."""
        files: dict[str, tuple[None, str, str]] = {"sdp": (None, sdp, "application/sdp")}
        if session is not None:
            files["session"] = (None, json.dumps(dict(session)), "application/json")
        try:
            response = await self.client.post(
                f"{self.base}/realtime/calls", files=files, headers={"Accept": "application/sdp"}
            )
        except httpx2.HTTPError as exc:
            raise CallsAPIError(f"cannot reach OpenAI: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise CallsAPIError(_refusal("create a call", response), response.status_code)
        location = response.headers.get("location")
        return CreatedCall(response.text, call_id_from_location(location), location, response.status_code)

    async def _post(self, call_id: str, verb: str, body: Mapping[str, Any] | None) -> None:
        url = f"{self.base}/realtime/calls/{quote(call_id, safe='')}/{verb}"
        try:
            response = await self.client.post(url, json=body)
        except httpx2.HTTPError as exc:
            raise CallsAPIError(f"cannot reach OpenAI to {verb} {call_id}: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise CallsAPIError(_refusal(f"{verb} {call_id}", response), response.status_code)


def _refusal(what: str, response: httpx2.Response) -> str:
    """OpenAI's own error message when it sent one (`{"error": {"message": ...}}`), else the status."""
    message = ""
    try:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            message = str(body["error"].get("message") or "")
    except ValueError:
        message = response.text[:200]
    return f"OpenAI refused to {what}: HTTP {response.status_code} {message}".rstrip()
