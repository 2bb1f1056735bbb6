"""The voice the simulator gets by default: eSpeak NG and PocketSphinx where installed, else the tone."""

from __future__ import annotations

import logging

from mcp_voice.sim.espeak import EspeakSynthesizer, EspeakUnavailable
from mcp_voice.sim.speech import Recognizer, Speech, Synthesizer

log = logging.getLogger("mcp_voice.sim")


def default_speech() -> Speech | None:
    """eSpeak NG and PocketSphinx where installed (the `voice` extra), else None: the tone."""
    synthesizer: Synthesizer | None
    recognizer: Recognizer | None
    try:
        synthesizer = EspeakSynthesizer()
    except EspeakUnavailable as exc:
        log.info("no eSpeak NG: %s", exc)
        synthesizer = None
    try:
        from mcp_voice.sim.sphinx import PocketSphinxRecognizer

        recognizer = PocketSphinxRecognizer()
    except ImportError:
        recognizer = None
    if synthesizer is None and recognizer is None:
        return None
    return Speech(synthesizer, recognizer)
