"""Audio for the simulator: formats, G.711 codecs, the reply tone and frame energy.

The simulator never understands speech; it measures loudness (for VAD) and produces a quiet
tone whose length stands for the spoken reply. A tone below the VAD threshold means a host that
echoes output audio back as input does not trigger barge-in by itself.
"""

from __future__ import annotations

import math
import sys
from array import array
from dataclasses import dataclass
from functools import lru_cache
from operator import mul
from typing import Any

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


def _ulaw_decode(b: int) -> int:
    b = ~b & 0xFF
    exp, mant = (b >> 4) & 7, b & 0x0F
    s = (((mant << 3) + 0x84) << exp) - 0x84
    return -s if b & 0x80 else s


def _alaw_decode(b: int) -> int:
    b ^= 0x55
    exp, mant = (b >> 4) & 7, b & 0x0F
    s = (mant << 4) + 8 if exp == 0 else ((mant << 4) + 0x108) << (exp - 1)
    return s if b & 0x80 else -s


def ulaw_encode(s: int) -> int:
    sign = 0x80 if s < 0 else 0
    s = min(abs(s), 32635) + 0x84
    exp = max(s.bit_length() - 8, 0)
    mant = (s >> (exp + 3)) & 0x0F
    return ~(sign | (exp << 4) | mant) & 0xFF


def alaw_encode(s: int) -> int:
    sign = 0x80 if s >= 0 else 0
    s = min(abs(s), 32767)
    exp = 0 if s < 256 else s.bit_length() - 8
    mant = (s >> 4 if exp == 0 else s >> (exp + 3)) & 0x0F
    return (sign | (exp << 4) | mant) ^ 0x55


_ULAW = [_ulaw_decode(b) for b in range(256)]
_ALAW = [_alaw_decode(b) for b in range(256)]


def decode(data: bytes, fmt: AudioFormat) -> array[int]:
    """Samples (int16) from raw bytes in `fmt` (a trailing odd PCM byte is ignored)."""
    if fmt.type == "audio/pcmu":
        return array("h", [_ULAW[b] for b in data])
    if fmt.type == "audio/pcma":
        return array("h", [_ALAW[b] for b in data])
    samples = array("h", data[: len(data) & ~1])
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def encode(samples: array[int], fmt: AudioFormat) -> bytes:
    if fmt.type == "audio/pcmu":
        return bytes(ulaw_encode(s) for s in samples)
    if fmt.type == "audio/pcma":
        return bytes(alaw_encode(s) for s in samples)
    out = array("h", samples)
    if sys.byteorder == "big":
        out.byteswap()
    return out.tobytes()


def rms(samples: array[int]) -> float:
    """Root-mean-square level as a fraction of full scale (0.0 silence .. 1.0)."""
    if not samples:
        return 0.0
    return math.sqrt(sum(map(mul, samples, samples)) / len(samples)) / FULL_SCALE


@lru_cache(maxsize=16)
def tone(fmt: AudioFormat, ms: int, hz: float, amplitude: int) -> bytes:
    """`ms` of a sine tone in `fmt`; cached, since every reply reuses the same chunk."""
    n = fmt.rate * ms // 1000
    step = 2 * math.pi * hz / fmt.rate
    return encode(array("h", [int(amplitude * math.sin(i * step)) for i in range(n)]), fmt)
