"""`X-Twilio-Signature`: is this request really from Twilio, for this URL and these parameters?

Twilio signs every webhook and the media WebSocket's upgrade request: base64 HMAC-SHA1 (or
HMAC-SHA256 when `X-Twilio-Webhooks-Signature-Settings` says so) of the full URL it requested
followed by the sorted POST parameters, keyed by the account's auth token. The Twilio library's
`RequestValidator` does the arithmetic (ports added and removed, repeated parameters, the
algorithm header); this module decides what to ask it and what "no token" means.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twilio.request_validator import RequestValidator, get_signature_algorithm

SIGNATURE_HEADER = "x-twilio-signature"
SETTINGS_HEADER = "x-twilio-webhooks-signature-settings"


class SignatureCheck:
    """Checks requests against one auth token; without a token every request passes (serve warns)."""

    def __init__(self, auth_token: str | None) -> None:
        self._validator = RequestValidator(auth_token) if auth_token else None

    @property
    def enabled(self) -> bool:
        return self._validator is not None

    def valid(self, url: str, params: Any, headers: Mapping[str, str]) -> bool:
        """Whether `headers` carry a valid signature of `url` + `params` (a form or a mapping)."""
        if self._validator is None:
            return True
        signature = headers.get(SIGNATURE_HEADER)
        if not signature:
            return False
        algorithm = get_signature_algorithm(headers.get(SETTINGS_HEADER))
        return bool(self._validator.validate(url, params, signature, algorithm))
