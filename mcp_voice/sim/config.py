"""SimConfig: the simulator's own knobs (pacing, reply length, voice, brain), not the Realtime session."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcp_voice.sim.speech import Speech


@dataclass(frozen=True)
class LlmSettings:
    """An OpenAI-compatible Chat Completions endpoint that answers instead of the script."""

    url: str
    """The API base (`http://127.0.0.1:11434/v1`) or the full `.../chat/completions` URL."""
    model: str
    api_key: str | None = field(default=None, repr=False)
    """Sent as `Authorization: Bearer`; never shown (from `MCP_VOICE_LLM_KEY`)."""
    timeout_s: float = 60.0
    """Connecting, and each wait for the next streamed chunk."""


@dataclass(frozen=True)
class SimConfig:
    speed: float = 1.0
    """Wall-clock seconds per second of reply: 1.0 real time, 0.1 ten times faster, 0 no pacing.
    Larger values make replies last longer (room to barge in)."""
    ms_per_char: int = 60
    """Spoken length of a reply: this many ms per character of its text ..."""
    min_audio_ms: int = 200
    max_audio_ms: int = 10_000
    """... clamped to [min_audio_ms, max_audio_ms]."""
    text_ms_per_char: int = 5
    """Text replies stream like a model's text (about 200 characters a second), not like speech ..."""
    max_text_ms: int = 2_000
    """... and a whole text reply takes at most this long (a long tool-result read-back included)."""
    chunk_ms: int = 100
    """Audio per `response.output_audio.delta`."""
    tone_hz: float = 200.0
    tone_amplitude: int = 600
    """Quiet (about -37 dBFS RMS): below the default VAD threshold, so echoed output is not speech."""
    api_key: str | None = None
    """When set, clients must send `Authorization: Bearer <api_key>` (else HTTP 401)."""
    instructions: str = "You are the mcp-voice simulator. Replies are scripted, not generated."
    transcript: str = "This is simulated speech."
    """The input transcript of every user audio item, when `audio.input.transcription` is set."""
    max_session_s: float | None = None
    """Close each session with 1001 and OpenAI's reason once it is this old (OpenAI: 3600)."""
    speech: Speech | None = None
    """A real voice (`sim.voice.default_speech()`: eSpeak NG and PocketSphinx, with the `voice`
    extra): replies are synthesized speech, committed user audio is transcribed. None: the tone."""
    llm: LlmSettings | None = None
    """Answer with this chat model instead of the script (the `local` upstream)."""
