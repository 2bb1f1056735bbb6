"""Audio for the simulator: formats, decoding (G.711 through `mcp_voice.g711`), the reply tone, frame energy.

The simulator never understands speech; it measures loudness (for VAD) and produces a quiet
tone whose length stands for the spoken reply. A tone below the VAD threshold means a host that
echoes output audio back as input does not trigger barge-in by itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from mcp_voice import g711
from mcp_voice.g711 import Samples

FULL_SCALE = 32768.0


@dataclass(frozen=True)
class AudioFormat:
    """One of the GA formats: PCM16 24 kHz, or G.711 μ-law / A-law at 8 kHz."""

    type: str = "audio/pcm"

    @property
    def rate(self) -> int:
        return 24000 if self.type == "audio/pcm" else 8000

    @property
    def bytes_per_ms(self) -> int:
        return 48 if self.type == "audio/pcm" else 8

    @classmethod
    def from_session(cls, fmt: Any) -> AudioFormat:
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        return cls(kind if kind in ("audio/pcm", "audio/pcmu", "audio/pcma") else "audio/pcm")


def decode(data: bytes, fmt: AudioFormat) -> Samples:
    """Samples (int16) from raw bytes in `fmt` (a trailing odd PCM byte is ignored)."""
    if fmt.type == "audio/pcmu":
        return g711.ulaw_decode(data)
    if fmt.type == "audio/pcma":
        return g711.alaw_decode(data)
    return np.frombuffer(data[: len(data) & ~1], dtype="<i2").astype(np.int16)


def encode(samples: Samples | Sequence[int], fmt: AudioFormat) -> bytes:
    pcm = np.asarray(samples, dtype=np.int16)
    if fmt.type == "audio/pcmu":
        return g711.ulaw_encode(pcm)
    if fmt.type == "audio/pcma":
        return g711.alaw_encode(pcm)
    return pcm.astype("<i2").tobytes()


def rms(samples: Samples | Sequence[int]) -> float:
    """Root-mean-square level as a fraction of full scale (0.0 silence .. 1.0)."""
    values = np.asarray(samples, dtype=np.float64)
    if not values.size:
        return 0.0
    return math.sqrt(float(np.mean(values * values))) / FULL_SCALE


@lru_cache(maxsize=16)
def tone(fmt: AudioFormat, ms: int, hz: float, amplitude: int) -> bytes:
    """`ms` of a sine tone in `fmt`; cached, since every reply reuses the same chunk."""
    n = fmt.rate * ms // 1000
    step = 2 * math.pi * hz / fmt.rate
    return encode((amplitude * np.sin(np.arange(n) * step)).astype(np.int16), fmt)
