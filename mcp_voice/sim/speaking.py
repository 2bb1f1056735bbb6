"""Speech as the simulator streams it: streamed text cut into phrases, a phrase's audio cut into
deltas with each word's transcript in the delta its audio starts in."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass

from mcp_voice.sim.audio import AudioFormat, encode
from mcp_voice.sim.speech import Spoken, resample

PHRASE_END = ".!?;:,\n"
PHRASE_MAX_CHARS = 160
"""A phrase is spoken once it ends in punctuation, or at a space once it is this long."""


@dataclass(frozen=True)
class SpeechChunk:
    audio: bytes
    """In the session's output format."""
    words: str
    """The transcript whose audio starts in this chunk (may be empty)."""
    ms: int


def speech_chunks(
    spoken: Spoken, phrase: str, fmt: AudioFormat, chunk_ms: int, joiner: str = ""
) -> Iterator[SpeechChunk]:
    """`spoken` (`phrase` said) as `chunk_ms` deltas in `fmt`; `joiner` goes before the first word."""
    samples = resample(spoken.samples, spoken.rate, fmt.rate)
    scale = fmt.rate / spoken.rate
    starts = [(pos, int(sample * scale)) for pos, sample in spoken.words] or [(0, 0)]
    per_chunk = fmt.rate * chunk_ms // 1000
    told = 0
    for at in range(0, max(1, len(samples)), per_chunk):
        end = at + per_chunk
        later = [pos for pos, sample in starts if sample >= end]  # words not begun yet
        upto = min(later) if later and end < len(samples) else len(phrase)
        words = ""
        if upto > told:
            words, joiner, told = joiner + phrase[told:upto], "", upto
        chunk = samples[at:end]
        yield SpeechChunk(encode(chunk, fmt), words, len(chunk) * 1000 // fmt.rate)


async def phrases(text: AsyncIterator[str]) -> AsyncIterator[str]:
    """Streamed text cut into phrases worth speaking: at punctuation, or at a space once long."""
    buffer = ""
    async for delta in text:
        buffer += delta
        while True:
            cut = max((buffer.rfind(p + " ") + 1 for p in PHRASE_END), default=0)  # the space after
            if cut <= 0 and len(buffer) > PHRASE_MAX_CHARS:
                cut = buffer.rfind(" ", 0, PHRASE_MAX_CHARS)
            if cut <= 0:
                break
            yield buffer[: cut + 1]
            buffer = buffer[cut + 1 :]
    if buffer.strip():
        yield buffer


async def each(items: Iterable[str] | AsyncIterable[str]) -> AsyncIterator[str]:
    """Iterate a list or a stream alike."""
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item
