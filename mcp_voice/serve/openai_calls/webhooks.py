"""Standard Webhooks verification, as OpenAI signs its webhooks (the openai SDK's `unwrap` does the same).

`webhook-signature` holds one or more `v1,<base64 HMAC-SHA256>` values of `"{id}.{timestamp}.{body}"`
keyed with the base64-decoded part of the `whsec_...` secret; `webhook-timestamp` must be within
five minutes of now. Deliveries already seen (OpenAI retries, or someone replays a captured
request) are recognised by the state store (`serve/state/`), so a call is not answered twice.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping

SECRET_ENV = "OPENAI_WEBHOOK_SECRET"
TOLERANCE_S = 300
SECRET_PREFIX = "whsec_"


class WebhookRejected(Exception):
    """The delivery is not from the secret's holder (or too old/new); `status` is the HTTP answer."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


def secret_key(secret: str) -> bytes:
    """The HMAC key: the base64 part of `whsec_...`, or the raw text of any other secret (as the SDK)."""
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("the webhook secret starts with whsec_ but is not base64 after it") from None
    return secret.encode()


def sign(key: bytes, webhook_id: str, timestamp: str, body: bytes) -> str:
    """The `v1,...` signature of one delivery."""
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(
    key: bytes,
    body: bytes,
    headers: Mapping[str, str],
    *,
    now: float | None = None,
    tolerance_s: int = TOLERANCE_S,
) -> str:
    """Check one delivery; returns its `webhook-id`. Raises `WebhookRejected` (400 or 401)."""
    webhook_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not (webhook_id and timestamp and signatures):
        raise WebhookRejected("missing webhook-id, webhook-timestamp or webhook-signature", 400)
    try:
        sent = int(timestamp)
    except ValueError:
        raise WebhookRejected("webhook-timestamp is not a number", 400) from None
    current = int(time.time() if now is None else now)
    if abs(current - sent) > tolerance_s:
        raise WebhookRejected("webhook-timestamp is outside the 5-minute tolerance")
    expected = sign(key, webhook_id, timestamp, body).encode()
    offered = [part for part in signatures.split() if part.startswith("v1,")]
    if not any(hmac.compare_digest(expected, part.encode()) for part in offered):
        raise WebhookRejected("webhook-signature does not match")
    return webhook_id
