"""No secret in any log line, at any level: API keys, client secrets, tokens, the upstream key.

Secrets reach log lines through other people's code: uvicorn's `"WebSocket /v1/realtime?token=..."`
line, the websockets library's debug dump of handshake headers (`Authorization: Bearer ...`,
`Sec-WebSocket-Protocol: openai-insecure-api-key....`), an exception message quoting a URL.
So redaction does not rely on call sites: `install()` wraps the logging record factory, and every
record is formatted and scrubbed when it is created, whoever logs it and whatever handler prints it.
Known secret values are replaced wherever they appear; the shapes that carry credentials
(bearer headers, key subprotocols, `token=` query values, `ek_` secrets, `sk-` keys) are replaced
even when their value is not known here.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any

MASK = "***"
MIN_SECRET_LEN = 6
"""Shorter values are not replaced literally (they would mangle ordinary words); their shapes still are."""

_PATTERNS = [
    # Authorization: Bearer X / ('authorization', b'Bearer X') / "authorization": "Basic X"
    (re.compile(r"(?i)\b(bearer|basic)(\s+|%20|\+)[^\s'\",;)\]}]+"), r"\1\2" + MASK),
    # the browser subprotocol carrying a key
    (re.compile(r"(openai-insecure-api-key\.)[^\s'\",;)\]}]+"), r"\1" + MASK),
    # token=X in a query string or a message (and the other names a key travels under)
    (
        re.compile(r"(?i)(\b(?:token|api[_-]?key|key|client_secret|secret|access_token)=)[^&\s'\"#,)]+"),
        r"\1" + MASK,
    ),
    # ephemeral client secrets and OpenAI-style keys, wherever they appear
    (re.compile(r"\bek_[A-Za-z0-9_-]{8,}"), "ek_" + MASK),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), "sk-" + MASK),
    # headers dumped one per line: "X-Api-Key: ..." / "api-key: ..."
    (re.compile(r"(?i)\b((?:x-)?api-key|x-mcp-voice-token|cookie)(\s*[:=]\s*)[^\s'\",]+"), r"\1\2" + MASK),
]

_lock = threading.Lock()
_known: set[str] = set()
_installed = False


def redact(text: str) -> str:
    """`text` with every known secret and every credential-shaped value masked."""
    for secret in sorted(_known, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def add_secrets(values: Iterable[str | None]) -> None:
    """Values to mask wherever they appear (API keys, the upstream key). Process-wide on purpose:
    a secret must not reach a log line whichever session or library writes it."""
    with _lock:
        _known.update(v for v in values if v and len(v) >= MIN_SECRET_LEN)


def install(secrets: Iterable[str | None] = ()) -> None:
    """Scrub every log record of this process from now on (idempotent), masking `secrets` too."""
    global _installed
    add_secrets(secrets)
    with _lock:
        if _installed:
            return
        _installed = True
        previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        scrub(record)
        return record

    logging.setLogRecordFactory(factory)


def scrub(record: logging.LogRecord) -> None:
    """Format the record's message now and mask it; exceptions are formatted and masked too."""
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: keep the raw parts, masked
        message = f"{record.msg} {record.args}"
    record.msg = redact(message)
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        record.exc_info = None
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class RedactingFilter(logging.Filter):
    """The same scrub as a handler filter, for programs that embed serve with their own logging."""

    def filter(self, record: logging.LogRecord) -> bool:
        scrub(record)
        return True
