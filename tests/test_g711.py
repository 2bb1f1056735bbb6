"""G.711 codecs against reference values: the ITU-T tables and the C reference (audioop)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mcp_voice import g711

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # stdlib audioop until 3.13, audioop-lts after
    import audioop

ALL_CODES = bytes(range(256))
ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int16)

# Reference points of G.711 (ITU-T G.711 tables 1a/2a as the Sun reference code decodes them).
ULAW_DECODED = {0x00: -32124, 0x0F: -16764, 0x7E: -8, 0x7F: 0, 0x80: 32124, 0xFE: 8, 0xFF: 0}
ALAW_DECODED = {0xD5: 8, 0x55: -8, 0x2A: -32256, 0xAA: 32256, 0x80: 5504, 0x00: -5504}
ULAW_ENCODED = {0: 0xFF, -1: 0x7E, 1: 0xFF, 100: 0xF2, -100: 0x72, 1000: 0xCE, 32767: 0x80, -32768: 0x00}
ALAW_ENCODED = {0: 0xD5, -1: 0x55, 1: 0xD5, 100: 0xD3, -100: 0x53, 1000: 0xFA, 32767: 0xAA, -32768: 0x2A}


@pytest.mark.parametrize("code,sample", sorted(ULAW_DECODED.items()))
def test_ulaw_decode_reference_values(code: int, sample: int) -> None:
    assert int(g711.ulaw_decode(bytes([code]))[0]) == sample


@pytest.mark.parametrize("code,sample", sorted(ALAW_DECODED.items()))
def test_alaw_decode_reference_values(code: int, sample: int) -> None:
    assert int(g711.alaw_decode(bytes([code]))[0]) == sample


def test_encode_reference_values() -> None:
    samples = np.array(list(ULAW_ENCODED), dtype=np.int16)
    assert list(g711.ulaw_encode(samples)) == list(ULAW_ENCODED.values())
    samples = np.array(list(ALAW_ENCODED), dtype=np.int16)
    assert list(g711.alaw_encode(samples)) == list(ALAW_ENCODED.values())


def test_whole_tables_match_the_c_reference() -> None:
    """Every byte decodes, and every 16-bit sample encodes, exactly as audioop's C code does."""
    assert g711.ulaw_decode(ALL_CODES).tobytes() == audioop.ulaw2lin(ALL_CODES, 2)
    assert g711.alaw_decode(ALL_CODES).tobytes() == audioop.alaw2lin(ALL_CODES, 2)
    pcm = ALL_SAMPLES.astype("<i2").tobytes()
    assert g711.ulaw_encode(pcm) == audioop.lin2ulaw(pcm, 2)
    assert g711.alaw_encode(pcm) == audioop.lin2alaw(pcm, 2)


@pytest.mark.parametrize(
    "encode,decode", [(g711.ulaw_encode, g711.ulaw_decode), (g711.alaw_encode, g711.alaw_decode)]
)
def test_round_trips(encode, decode) -> None:  # type: ignore[no-untyped-def]
    # code -> sample -> code is the identity (μ-law's two zeros, 0x7F and 0xFF, both decode to 0)
    codes = np.frombuffer(ALL_CODES, dtype=np.uint8)
    again = np.frombuffer(encode(decode(ALL_CODES)), dtype=np.uint8)
    differs = codes != again
    assert set(codes[differs].tolist()) <= {0x7F}
    # sample -> code -> sample stays within G.711's quantisation step (at most 1/16 of the value + 16)
    restored = decode(encode(ALL_SAMPLES)).astype(np.int32)
    error = np.abs(restored - np.clip(ALL_SAMPLES.astype(np.int32), -32635, 32635))
    assert int(np.max(error - np.abs(ALL_SAMPLES.astype(np.int32)) // 16)) <= 16


def test_pcm_bytes_are_little_endian_and_an_odd_byte_is_ignored() -> None:
    assert g711.ulaw_encode(b"\xe8\x03\x00") == bytes([ULAW_ENCODED[1000]])


def test_durations() -> None:
    assert g711.duration_ms(160) == 20.0  # one Twilio frame
    assert g711.ulaw_encode(np.zeros(160, dtype=np.int16)) == bytes([g711.SILENCE_ULAW]) * 160
    assert g711.alaw_encode(np.zeros(160, dtype=np.int16)) == bytes([g711.SILENCE_ALAW]) * 160
