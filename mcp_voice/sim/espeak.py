"""eSpeak NG through its C library (ctypes): text -> PCM16 samples, with where each word starts.

The library comes from the `espeakng-loader` wheel (it ships `libespeak-ng.so` and its data, so
`pip install mcp-voice[voice]` is enough), else from the system (Debian's `libespeak-ng1`). The
library keeps global state, so one lock serialises every synthesis in the process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

import numpy as np

from mcp_voice.sim.speech import Spoken

_SYNCHRONOUS = 2  # espeak_AUDIO_OUTPUT: AUDIO_OUTPUT_SYNCHRONOUS
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_RATE = 1  # espeak_PARAMETER: espeakRATE (words a minute)
_EVENT_WORD = 1
_EVENT_LIST_TERMINATED = 0
DEFAULT_VOICE = "en-us+m1"
"""Measured: PocketSphinx hears this voice far better than eSpeak's default."""
DEFAULT_WPM = 150


class EspeakUnavailable(Exception):
    """No eSpeak NG library here (install the `voice` extra, or Debian's espeak-ng)."""


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


def _load() -> tuple[ctypes.CDLL, bytes | None, str]:
    try:
        import espeakng_loader

        return (
            ctypes.CDLL(str(espeakng_loader.get_library_path())),
            str(espeakng_loader.get_data_path()).encode(),
            "espeakng-loader",
        )
    except (ImportError, OSError):
        pass
    name = ctypes.util.find_library("espeak-ng")
    if name is None:
        raise EspeakUnavailable("eSpeak NG is not installed: pip install 'mcp-voice[voice]'")
    return ctypes.CDLL(name), None, "system libespeak-ng"


class Espeak:
    """The process's one eSpeak NG engine (build it with `Espeak.shared()`)."""

    _shared: Espeak | None = None
    _shared_lock = threading.Lock()

    def __init__(self, voice: str = DEFAULT_VOICE, wpm: int = DEFAULT_WPM) -> None:
        self.lib, data, self.source = _load()
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.rate = self.lib.espeak_Initialize(_SYNCHRONOUS, 0, data, 0)
        if self.rate <= 0:
            raise EspeakUnavailable(f"eSpeak NG failed to start (data: {data!r})")
        self.lib.espeak_SetSynthCallback(self._keep(_CALLBACK(self._on_audio)))
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise EspeakUnavailable(f"eSpeak NG has no voice {voice!r}")
        self.lib.espeak_SetParameter(_RATE, wpm, 0)
        self.voice, self.wpm = voice, wpm
        self._lock = threading.Lock()
        self._chunks: list[np.ndarray] = []
        self._words: list[tuple[int, int]] = []
        self._samples = 0

    def _keep(self, callback: object) -> object:
        self._callback = callback  # ctypes calls it later: it must outlive this frame
        return callback

    @classmethod
    def shared(cls) -> Espeak:
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def _on_audio(
        self, wav: ctypes._Pointer[ctypes.c_short], count: int, events: ctypes._Pointer[_Event]
    ) -> int:
        if count > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            event = events[i]
            if event.type == _EVENT_WORD:
                self._words.append((event.text_position - 1, event.sample))
            i += 1
        self._samples += max(0, count)
        return 0

    def synthesize(self, text: str) -> Spoken:
        """Speak `text` (blocking: run it in a worker thread)."""
        data = text.encode()
        with self._lock:
            self._chunks, self._words, self._samples = [], [], 0
            self.lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            self.lib.espeak_Synchronize()
            samples = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
            # positions count characters (UTF-8 input, POS_CHARACTER), 1-based
            words = tuple((min(max(0, pos), len(text)), sample) for pos, sample in self._words)
        return Spoken(samples.astype(np.int16), self.rate, words)


class EspeakSynthesizer:
    """The `Synthesizer` over the process's shared engine."""

    def __init__(self) -> None:
        self.engine = Espeak.shared()
        self.name = f"eSpeak NG ({self.engine.voice}, {self.engine.source})"

    def synthesize(self, text: str) -> Spoken:
        return self.engine.synthesize(text)
