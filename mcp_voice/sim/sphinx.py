"""PocketSphinx as the simulator's `Recognizer`: the en-US model its wheel ships, nothing downloaded.

Open-vocabulary recognition of synthetic speech is weak, so a session that names words it expects
(its tools' spoken names, its instructions, `transcription.prompt`) is decoded against a small
language model of those words plus common English ones: measured on eSpeak NG, "hello world,
please open the calendar" comes back whole instead of "hello world legal calendar", and decoding
takes a fifth of the time. Decoders are built once per vocabulary and shared (one lock each).
"""

from __future__ import annotations

import math
import re
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pocketsphinx import Decoder

from mcp_voice.g711 import Samples
from mcp_voice.sim.speech import STT_RATE, resample

PADDING_MS = 300
"""Silence around the utterance: the decoder finds word edges better with some."""
MAX_DECODERS = 8
SEARCH = {"beam": 1e-30, "wbeam": 1e-20, "loglevel": "FATAL"}
"""Narrower beams than the defaults: measured on eSpeak NG sentences, half the decoding time
(real-time factor 0.26 -> 0.13 on 2 cores) at no loss of accuracy."""
COMMON_WORDS = """
a about after again all also am an and any are as ask at be because been before but by call can
cancel check close could day did do does done down find for from get give go good has have he hello
help her here hi him his how i if in is it its just know last let like list make me more my name need
new next no not now of off ok okay on one open or our out please put read remove repeat right say
search see send set she show so start stop take tell thank thanks that the their them then there
these they this time to today tomorrow turn two up us want was we weather what when where which who
why will with would write yes you your
""".split()


def vocabulary_words(texts: Sequence[str]) -> list[str]:
    """Lower-case words of `texts`, tool names read aloud (`calendar__list_events`: calendar list events)."""
    words: list[str] = []
    for text in texts:
        spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
        words += re.findall(r"[a-z']+", spaced.replace("_", " ").replace("-", " ").lower())
    return words


class PocketSphinxRecognizer:
    """Transcribe 16 kHz speech; `vocabulary` narrows the language model to the session's words."""

    name = "PocketSphinx (en-US)"

    def __init__(self) -> None:
        self._decoders: OrderedDict[tuple[str, ...], tuple[Decoder, threading.Lock]] = OrderedDict()
        self._lock = threading.Lock()
        self._dir = tempfile.TemporaryDirectory(prefix="mcp-voice-lm-")

    def _decoder(self, vocabulary: Sequence[str]) -> tuple[Decoder, threading.Lock]:
        with self._lock:
            words: tuple[str, ...] = ()
            if vocabulary:
                words = tuple(sorted({*COMMON_WORDS, *vocabulary_words(vocabulary)}))
            found = self._decoders.get(words)
            if found is not None:
                self._decoders.move_to_end(words)
                return found
            if not words:
                decoder = Decoder(**SEARCH)
            else:
                probe = self._decoders.get(()) or (Decoder(**SEARCH), threading.Lock())
                self._decoders.setdefault((), probe)
                # only words it can pronounce, and a dictionary of just those: loading the full
                # one again would take seconds
                spelled = {w: p for w in words if (p := probe[0].lookup_word(w))}
                lm, dictionary = self._write_model(spelled)
                decoder = Decoder(lm=str(lm), dict=str(dictionary), **SEARCH)
            found = self._decoders[words] = (decoder, threading.Lock())
            while len(self._decoders) > MAX_DECODERS:
                self._decoders.popitem(last=False)
            return found

    def _write_model(self, spelled: dict[str, str]) -> tuple[Path, Path]:
        """A unigram ARPA model giving every word the same chance, and its pronunciations."""
        words = sorted(spelled)
        p = -math.log10(len(words) + 1)
        lines = ["\\data\\", f"ngram 1={len(words) + 2}", "", "\\1-grams:", "-99 <s> 0", f"{p:.4f} </s> 0"]
        lines += [f"{p:.4f} {w} 0" for w in words]
        stem = Path(self._dir.name) / f"v{len(self._decoders)}-{abs(hash(tuple(words)))}"
        lm, dictionary = stem.with_suffix(".arpa"), stem.with_suffix(".dict")
        lm.write_text("\n".join([*lines, "", "\\end\\", ""]))
        dictionary.write_text("".join(f"{w} {spelled[w]}\n" for w in words))
        return lm, dictionary

    def transcribe(self, samples: Samples, rate: int, vocabulary: Sequence[str] = ()) -> str:
        pcm = resample(samples, rate, STT_RATE)
        pad = np.zeros(STT_RATE * PADDING_MS // 1000, np.int16)
        data = np.concatenate([pad, pcm, pad]).astype("<i2").tobytes()
        decoder, lock = self._decoder(vocabulary)
        with lock:
            decoder.start_utt()
            decoder.process_raw(data, full_utt=True)
            decoder.end_utt()
            hyp = decoder.hyp()
        return hyp.hypstr.strip() if hyp is not None else ""
