"""The simulator's voice behind two small interfaces: a `Synthesizer` speaks, a `Recognizer` hears.

`sim.voice.default_speech()` gives eSpeak NG and PocketSphinx when the `voice` extra is installed
(both ship everything in their wheels: nothing is downloaded at run time), else None (the tone).
Any object with the same method can stand in: faster-whisper with a model the user provides, say
(docs/simulator.md shows one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from mcp_voice.g711 import Samples

STT_RATE = 16000


@dataclass(frozen=True)
class Spoken:
    """Speech samples (int16) at `rate`, and where each word starts: (character offset, sample)."""

    samples: Samples
    rate: int
    words: tuple[tuple[int, int], ...] = ()


class Synthesizer(Protocol):
    name: str

    def synthesize(self, text: str) -> Spoken:
        """Speak `text` (blocking; the simulator calls it in a worker thread)."""
        ...


class Recognizer(Protocol):
    name: str

    def transcribe(self, samples: Samples, rate: int, vocabulary: Sequence[str] = ()) -> str:
        """The words in `samples` (blocking). `vocabulary`: words this session expects (its tool
        names spoken, its instructions); a recogniser may constrain itself to them, or ignore them."""
        ...


@dataclass(frozen=True)
class Speech:
    """A real voice for the simulator: either part may be None (no speech out / no hearing)."""

    synthesizer: Synthesizer | None = None
    recognizer: Recognizer | None = None

    def describe(self) -> str:
        says = self.synthesizer.name if self.synthesizer else "a tone"
        hears = self.recognizer.name if self.recognizer else "nothing"
        return f"speaks with {says}, hears with {hears}"


def resample(samples: Samples, src: int, dst: int) -> Samples:
    """Linear resampling, with a short moving-average low-pass when going down a lot (enough for speech)."""
    if src == dst or not len(samples):
        return np.asarray(samples, dtype=np.int16)
    values = np.asarray(samples, dtype=np.float64)
    if dst * 2 <= src:  # 24 kHz -> 8 kHz: average away what would fold back; 24 -> 16 needs none
        width = round(src / dst)
        if width > 1:
            values = np.convolve(values, np.ones(width) / width, mode="same")
    n = int(len(values) * dst / src)
    positions = np.arange(n) * (src / dst)
    out = np.interp(positions, np.arange(len(values)), values)
    return np.clip(out, -32768, 32767).astype(np.int16)
