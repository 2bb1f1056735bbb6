"""G.711 μ-law and A-law: 8 kHz telephone audio <-> 16-bit linear PCM, shared by the whole project.

Phone calls carry G.711 end to end (Twilio Media Streams speak μ-law, the Realtime API takes
`audio/pcmu` and `audio/pcma`), so the bridge itself never converts audio. The codecs are for
what has to look inside it: the simulator's VAD and reply tone, tests and benchmarks. They follow
ITU-T G.711 as the classic Sun reference code implements it (μ-law on 14-bit samples, clipped at
8159 with bias 0x21; A-law on 13-bit samples with even-bit inversion 0x55), decode by a 256-entry
table and encode by a 65536-entry one (numpy: a 20 ms frame costs microseconds).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

ULAW_CLIP = 8159
ULAW_BIAS = 0x21
"""On 14-bit samples, as in the reference code (32635 and 0x84 in 16-bit terms)."""
BYTES_PER_MS = 8
"""8000 samples a second, one byte each: what `audio_end_ms` of G.711 audio is counted in."""
SILENCE_ULAW = 0xFF
SILENCE_ALAW = 0xD5

Samples = npt.NDArray[np.int16]


def _ulaw_decode_table() -> Samples:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent, mantissa = (codes >> 4) & 7, codes & 0x0F
    magnitude = (((mantissa << 3) + (ULAW_BIAS << 2)) << exponent) - (ULAW_BIAS << 2)
    return np.where(codes & 0x80, -magnitude, magnitude).astype(np.int16)


def _alaw_decode_table() -> Samples:
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    exponent, mantissa = (codes >> 4) & 7, codes & 0x0F
    shifted = ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0)
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, shifted)
    return np.where(codes & 0x80, magnitude, -magnitude).astype(np.int16)


def _bit_length(values: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
    """int.bit_length() for non-negative values below 2**16."""
    out = np.zeros(values.shape, dtype=np.int32)
    nonzero = values > 0
    out[nonzero] = np.floor(np.log2(values[nonzero])).astype(np.int32) + 1
    return out


def _ulaw_encode_table() -> npt.NDArray[np.uint8]:
    # The reference code works on 14-bit samples (the 16-bit value shifted right by 2), clipped at
    # 8159 with a bias of 0x21: the same curve as 32635/0x84 but rounded the reference's way.
    shifted = np.arange(-32768, 32768, dtype=np.int32) >> 2
    mask = np.where(shifted < 0, 0x7F, 0xFF)
    biased = np.minimum(np.abs(shifted), ULAW_CLIP) + ULAW_BIAS
    segment = np.maximum(_bit_length(biased) - 6, 0)
    mantissa = np.where(segment > 7, 0x0F, (biased >> (segment + 1)) & 0x0F)
    segment = np.minimum(segment, 7)
    return (((segment << 4) | mantissa) ^ mask).astype(np.uint8)


def _alaw_encode_table() -> npt.NDArray[np.uint8]:
    samples = np.arange(-32768, 32768, dtype=np.int32)
    # The reference code works on the sample shifted right by 3 (13-bit A-law input); a negative
    # value is one's-complemented first, so -1 maps like 0, not like +1.
    shifted = samples >> 3
    sign = np.where(shifted >= 0, 0x80, 0)
    magnitude = np.where(shifted >= 0, shifted, ~shifted)
    exponent = np.maximum(_bit_length(magnitude) - 5, 0)
    mantissa = np.where(exponent == 0, magnitude >> 1, magnitude >> np.maximum(exponent, 1)) & 0x0F
    exponent = np.minimum(exponent, 7)
    mantissa = np.where(_bit_length(magnitude) > 12, 0x0F, mantissa)
    return ((sign | (exponent << 4) | mantissa) ^ 0x55).astype(np.uint8)


_ULAW_DECODE = _ulaw_decode_table()
_ALAW_DECODE = _alaw_decode_table()
_ULAW_ENCODE = _ulaw_encode_table()
_ALAW_ENCODE = _alaw_encode_table()


def _as_samples(samples: Samples | bytes | bytearray | memoryview) -> Samples:
    if isinstance(samples, bytes | bytearray | memoryview):
        data = bytes(samples)
        return np.frombuffer(data[: len(data) & ~1], dtype="<i2").astype(np.int16)
    return np.asarray(samples, dtype=np.int16)


def _table_index(samples: Samples) -> npt.NDArray[np.int32]:
    return samples.astype(np.int32) + 32768


def ulaw_decode(data: bytes | bytearray | memoryview) -> Samples:
    """16-bit samples from μ-law bytes."""
    return _ULAW_DECODE[np.frombuffer(bytes(data), dtype=np.uint8)]


def alaw_decode(data: bytes | bytearray | memoryview) -> Samples:
    """16-bit samples from A-law bytes."""
    return _ALAW_DECODE[np.frombuffer(bytes(data), dtype=np.uint8)]


def ulaw_encode(samples: Samples | bytes | bytearray | memoryview) -> bytes:
    """μ-law bytes from 16-bit samples (an int16 array, or little-endian PCM16 bytes)."""
    return bytes(_ULAW_ENCODE[_table_index(_as_samples(samples))].tobytes())


def alaw_encode(samples: Samples | bytes | bytearray | memoryview) -> bytes:
    """A-law bytes from 16-bit samples (an int16 array, or little-endian PCM16 bytes)."""
    return bytes(_ALAW_ENCODE[_table_index(_as_samples(samples))].tobytes())


def duration_ms(data_len: int) -> float:
    """How long `data_len` bytes of 8 kHz G.711 audio play."""
    return data_len / BYTES_PER_MS
