"""An opt-in JSONL record of one session's events, for debugging a conversation after the fact.

One file per session (`<dir>/<session_id>.jsonl`), one line per event crossing the host's edges:
`{"t": <unix s>, "dir": "from_client|to_client|from_upstream|to_upstream", "event": {...}}`.
Audio payloads (`audio`, `delta` of audio events) are replaced by their length, and the file
stops at `max_bytes` with a final `{"truncated": true}` line: a long call cannot fill the disk.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import IO, Any

import orjson

from mcp_voice.protocol.events import ClientEventError, parse_client_event
from mcp_voice.session.context import CallContext

log = logging.getLogger("mcp_voice.serve")

AUDIO_KEYS = ("audio",)
AUDIO_DELTA_TYPES = frozenset({"response.output_audio.delta", "response.audio.delta"})


def elide_audio(event: Any) -> Any:
    """A copy of `event` whose base64 audio is replaced by `"<N bytes of audio elided>"`."""
    if not isinstance(event, dict):
        return event
    out = dict(event)
    for key in AUDIO_KEYS:
        if isinstance(out.get(key), str):
            out[key] = f"<{len(out[key])} bytes of audio elided>"
    if out.get("type") in AUDIO_DELTA_TYPES and isinstance(out.get("delta"), str):
        out["delta"] = f"<{len(out['delta'])} bytes of audio elided>"
    item = out.get("item")
    if isinstance(item, dict) and isinstance(item.get("content"), list):
        out["item"] = {**item, "content": [elide_audio(part) for part in item["content"]]}
    return out


class EventLog:
    """The JSONL file of one session; writes after the cap (or after close) are dropped."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.written = 0
        self.truncated = False
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        self._file: IO[bytes] | None = os.fdopen(os.open(path, flags, 0o600), "wb")

    @classmethod
    def open(
        cls, directory: str | None, context: CallContext, max_bytes: int, *, model: str = ""
    ) -> EventLog | None:
        """The session's log in `directory`, or None when logging is off (or the file can't be made)."""
        if not directory:
            return None
        path = Path(directory) / f"{context.session_id}.jsonl"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            event_log = cls(path, max_bytes)
        except OSError as exc:
            log.warning("cannot write the event log %s: %s", path, exc.strerror or exc)
            return None
        event_log._line({"t": time.time(), "session": context.meta(), "model": model})
        return event_log

    def write(self, direction: str, event: Any) -> None:
        if self._file is None or self.truncated:
            return
        if direction == "from_client":
            # Taken before the host checks it: read through the same check (what the host will do).
            try:
                event = parse_client_event(event)
            except ClientEventError as exc:
                text = event if isinstance(event, str) else repr(event)
                event = {"refused": exc.code, "raw": text[:200]}
        elif isinstance(event, str):  # an audio append the host forwards as the client's text
            try:
                event = orjson.loads(event)
            except orjson.JSONDecodeError:
                event = {"raw": event[:200]}
        self._line({"t": time.time(), "dir": direction, "event": elide_audio(event)})

    def _line(self, record: dict[str, Any]) -> None:
        assert self._file is not None
        data = orjson.dumps(record) + b"\n"
        if self.written + len(data) > self.max_bytes:
            self.truncated = True
            self._file.write(b'{"truncated": true}\n')
            self._file.flush()
            return
        self._file.write(data)
        self._file.flush()
        self.written += len(data)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
