"""What a keypad press does in a conversation, shared by every phone transport.

Twilio sends `dtmf` stream messages; OpenAI SIP sends `input_audio_buffer.dtmf_event_received`.
Both end here: by default the digit becomes a user text item ("The caller pressed 5.") and the
model is asked to answer, once the floor is free, so a phone menu works without extra code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mcp_voice.protocol.events import new_item_id

DtmfMode = Literal["respond", "message", "ignore"]
DTMF_DIGITS = frozenset("0123456789*#ABCD")
DEFAULT_DTMF_TEXT = "The caller pressed {digit}."


@dataclass(frozen=True)
class DtmfAction:
    """`respond`: add the text and ask for a response; `message`: add it silently; `ignore`."""

    mode: DtmfMode = "respond"
    text: str = DEFAULT_DTMF_TEXT
    """A template with `{digit}`."""

    def message(self, digit: str) -> dict[str, object] | None:
        """The user message item for `digit`, or None when presses are ignored or the digit is not one."""
        if self.mode == "ignore" or digit not in DTMF_DIGITS:
            return None
        return {
            "type": "message",
            "id": new_item_id(),
            "role": "user",
            "content": [{"type": "input_text", "text": self.text.replace("{digit}", digit)}],
        }
