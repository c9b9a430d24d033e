"""The hybrid first pass: pocketsphinx (HMM-GMM acoustic model + n-gram LM) with its bundled en-us model.

Two jobs, one model family (see ../shared/RESEARCH.md for the measurements):

* ``SphinxRecognizer`` decodes speech as it arrives: 20-32 ms chunks cost ~5 ms, and a
  partial hypothesis exists a few hundred milliseconds into speech, long before any
  end-to-end model has run once. Its words are far less accurate than Whisper's (on
  espeak-ng voices 30-80% WER), which is why the cascade uses it for speed, segmentation
  and vocabulary, and Whisper for the final words;
* ``SphinxAligner`` force-aligns a known word sequence (the second pass's final text)
  to the audio with the same acoustic model: an HMM alignment puts word boundaries
  within a few tens of milliseconds, where Whisper's cross-attention times are ~90 ms off.

Both accept a custom ``Vocabulary``. Words missing from the dictionary get pronunciations
from espeak-ng's rules (``pronounce.py``). Times are seconds from the start of the audio
given; pocketsphinx counts 10 ms frames. Usable without the engine.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .pronounce import espeak_arpabet, normalize_word
from .vocabulary import Vocabulary, split_compound

SAMPLE_RATE = 16000
FRAME_S = 0.01
_VARIANT = re.compile(r"\(\d+\)$")


def bundled_model() -> dict[str, str]:
    """Paths of the en-us acoustic model, dictionary and LM bundled by the ``pocketsphinx`` package."""
    try:
        from pocketsphinx import get_model_path
    except ImportError:
        raise FileNotFoundError("pocketsphinx is not installed (pip install 'meetflow[hybrid]')") from None
    return {
        "hmm": get_model_path("en-us/en-us"),
        "lm": get_model_path("en-us/en-us.lm.bin"),
        "dict": get_model_path("en-us/cmudict-en-us.dict"),
    }


def _check(path: str | None, what: str) -> str | None:
    if path is not None and not Path(path).expanduser().exists():
        raise FileNotFoundError(f"{what} '{path}' does not exist")
    return str(Path(path).expanduser()) if path is not None else None


def is_filler(word: str) -> bool:
    """Silence, sentence marks and noise words of the decoder's output."""
    return word in ("<s>", "</s>", "<sil>") or word.startswith("[") or (word.startswith("+") and word.endswith("+"))


def base_word(word: str) -> str:
    """``word(2)`` (a pronunciation variant) -> ``word``."""
    return _VARIANT.sub("", word)


#: Level of the noise added before decoding (about -80 dBFS). Digital silence (the zeros a
#: synthesiser or a padded buffer produces) lies far outside what the acoustic model was
#: trained on and makes alignments fail; a whisper of noise fixes that.
DITHER = 1e-4


def log_score(score: float) -> float:
    """pocketsphinx reports acoustic scores as (tiny) linear probabilities: natural log, floored."""
    return math.log(max(score, 1e-300))


def to_pcm16(audio: np.ndarray, rng: np.random.Generator | None = None) -> bytes:
    x = np.asarray(audio, dtype=np.float32)
    if rng is not None and len(x):
        x = x + rng.standard_normal(len(x)).astype(np.float32) * DITHER
    return (np.clip(x, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


@dataclass
class SphinxWord:
    """A first-pass word: times in seconds from the start of the utterance, and its acoustic
    log-likelihood per frame (natural log; higher is better)."""

    text: str
    t0: float
    t1: float
    ascore: float = 0.0


@dataclass
class SphinxResult:
    text: str
    words: list[SphinxWord] = field(default_factory=list)


class _Base:
    """A configured pocketsphinx decoder with the vocabulary added."""

    def __init__(self, vocabulary: Vocabulary | None, hmm: str | None, lm: str | None, dictionary: str | None, use_lm: bool, boost: float, config: dict[str, Any] | None) -> None:
        from pocketsphinx import Decoder

        paths = bundled_model()
        kw: dict[str, Any] = {
            "hmm": _check(hmm, "acoustic model folder") or paths["hmm"],
            "dict": _check(dictionary, "pronunciation dictionary") or paths["dict"],
            "lm": (_check(lm, "language model") or paths["lm"]) if use_lm else None,
            "loglevel": "FATAL",
        }
        kw.update(config or {})
        self.decoder = Decoder(**kw)
        self._cmn_init = self.decoder.get_cmn(False)
        self._has_lm = use_lm
        self.vocabulary = vocabulary or Vocabulary()
        if self.vocabulary:
            self._add_vocabulary(boost)

    def pronunciations(self, words: Sequence[str]) -> dict[str, str]:
        """Phones of each (dictionary-form) word: the dictionary's, else espeak-ng's rules."""
        out: dict[str, str] = {}
        missing = []
        for w in dict.fromkeys(words):
            phones = self.decoder.lookup_word(w)
            if phones:
                out[w] = phones
            else:
                missing.append(w)
        for w, phones in espeak_arpabet(missing).items():
            if phones:
                out[w] = " ".join(phones)
        return out

    def ensure_words(self, words: Sequence[str]) -> set[str]:
        """Add words the dictionary lacks (by rule); return the words that have no pronunciation."""
        missing = [w for w in dict.fromkeys(words) if not self.decoder.lookup_word(w)]
        if not missing:
            return set()
        found = espeak_arpabet(missing)
        added = [w for w in missing if found.get(w)]
        for i, w in enumerate(added):
            self.decoder.add_word(w, " ".join(found[w]), i == len(added) - 1)
        return set(missing) - set(added)

    def _add_vocabulary(self, boost: float) -> None:
        entries = self.vocabulary.entries
        pron = self.pronunciations([w for e in entries for w in e.words])
        usable = [e for e in entries if all(w in pron for w in e.words)]
        lm = self.decoder.get_lm() if self._has_lm else None
        for i, e in enumerate(usable):
            self.decoder.add_word(e.token, " ".join(pron[w] for w in e.words), i == len(usable) - 1)
            if lm is not None:
                lm.add_word(e.token, boost)
        if lm is not None and usable:
            self.decoder.add_lm("vocabulary", lm)
            self.decoder.activate_search("vocabulary")


class SphinxRecognizer(_Base):
    """Streaming first-pass recognition of one utterance at a time.

    ``start()``, then ``feed()`` 16 kHz float audio as it arrives (each call returns the
    current partial text), then ``finish()`` for the words with their times.
    """

    def __init__(
        self,
        vocabulary: Vocabulary | None = None,
        hmm: str | None = None,
        lm: str | None = None,
        dictionary: str | None = None,
        boost: float = 1.0,
        config: dict[str, Any] | None = None,
    ) -> None:
        # Only the forward (tree) search: the second and third passes pocketsphinx runs at
        # the end of an utterance (flat lexicon, best path) cost ~70 ms per second of
        # speech, right when the cascade is waiting to hand the utterance on, and only
        # polish words the second pass replaces. Fewer active HMMs per frame cut the
        # per-chunk cost by about a third.
        fast = {"fwdflat": False, "bestpath": False, "maxhmmpf": 3000}
        super().__init__(vocabulary, hmm, lm, dictionary, True, boost, {**fast, **(config or {})})
        self.active = False
        self.samples = 0
        self.samples_total = 0  # seeds the dither: the same stream gives the same result
        self._rng = np.random.default_rng(0)
        self._primed = False
        self._held: list[bytes] = []

    #: Speech the cepstral mean is first estimated from (see ``feed``).
    PRIME_S = 1.0
    #: Most samples handed to pocketsphinx in one live call (see ``_live``).
    LIVE_CHUNK = 4096

    def start(self) -> None:
        if self.active:
            self.decoder.end_utt()
        self.decoder.start_utt()
        self.active = True
        self.samples = 0
        self._rng = np.random.default_rng(self.samples_total)
        self._held = []

    def feed(self, audio: np.ndarray) -> str:
        """Decode more audio of the current utterance; return the partial hypothesis text.

        Cepstral mean normalisation adapts slowly from a fixed initial mean, so the first
        seconds of a stream are decoded badly when the channel or level differ from that
        mean (measured: the first sentence of an espeak voice came out as unrelated words,
        the same sentence later correctly). So once the stream's first ``PRIME_S`` seconds
        are in, a whole-utterance pass over them sets the mean (pocketsphinx computes it
        over the utterance in that mode), and they are decoded again with it.
        """
        if not self.active:
            self.start()
        if len(audio):
            pcm = to_pcm16(audio, self._rng)
            self._live(pcm)
            self.samples += len(audio)
            self.samples_total += len(audio)
            if not self._primed:
                self._held.append(pcm)
                if self.samples >= self.PRIME_S * SAMPLE_RATE:
                    self._primed = True
                    held = b"".join(self._held)
                    self._held = []
                    self.decoder.end_utt()
                    self.decoder.start_utt()
                    self.decoder.process_raw(held, False, True)
                    self.decoder.end_utt()
                    self.decoder.start_utt()
                    self._live(held)
        return self.partial()

    def _live(self, pcm: bytes) -> None:
        """Decode 16-bit PCM in live mode, at most ``LIVE_CHUNK`` samples per call.

        pocketsphinx 5.1.1 crashes the process (segmentation fault) on some live calls with a
        second or more of audio at once: measured on a 90 s simulated meeting, where a VAD split
        re-sends 7.5 s of speech as one chunk; 1 s calls crashed on some stretches too, 0.5 s
        ones never (over the meetings and offsets tried). The meeting graph died with it.
        """
        step = 2 * self.LIVE_CHUNK
        for k in range(0, len(pcm), step):
            self.decoder.process_raw(pcm[k:k + step], False, False)

    def partial(self) -> str:
        hyp = self.decoder.hyp()
        return words_to_text(hyp.hypstr.split()) if hyp is not None and hyp.hypstr else ""

    def finish(self) -> SphinxResult:
        """End the utterance; return its words (times from the utterance's first sample)."""
        if not self.active:
            return SphinxResult("")
        self.decoder.end_utt()
        self.active = False
        words: list[SphinxWord] = []
        for seg in self.decoder.seg() or []:
            if is_filler(seg.word):
                continue
            frames = max(seg.end_frame - seg.start_frame + 1, 1)
            parts = split_compound(base_word(seg.word))
            t0, t1 = seg.start_frame * FRAME_S, (seg.end_frame + 1) * FRAME_S
            # A compound vocabulary entry spans all its words; share its time out evenly.
            step = (t1 - t0) / len(parts)
            for k, p in enumerate(parts):
                words.append(SphinxWord(p, t0 + k * step, t0 + (k + 1) * step, log_score(seg.ascore) / frames))
        return SphinxResult(" ".join(w.text for w in words), words)


def words_to_text(tokens: Sequence[str]) -> str:
    out: list[str] = []
    for t in tokens:
        if not is_filler(t):
            out.extend(split_compound(base_word(t)))
    return " ".join(out)


@dataclass
class AlignedWord:
    """A forced-alignment result for one input word (None times when it could not be aligned)."""

    t0: float | None
    t1: float | None
    ascore: float | None = None


class SphinxAligner(_Base):
    """Force-align known words to audio with the first pass's acoustic model."""

    def __init__(self, vocabulary: Vocabulary | None = None, hmm: str | None = None, dictionary: str | None = None, config: dict[str, Any] | None = None) -> None:
        super().__init__(vocabulary, hmm, None, dictionary, False, 1.0, config)

    def align(self, audio: np.ndarray, words: Sequence[str]) -> list[AlignedWord]:
        """Start and end of each of ``words`` in ``audio`` (16 kHz float), seconds from its start.

        Words are normalised to dictionary form; a word that normalises to nothing
        (punctuation) or has no pronunciation gets no times, nor does anything when the
        alignment as a whole fails (text that is not in the audio).
        """
        forms = [normalize_word(w) for w in words]
        # "well-known" is two dictionary words when the hyphenated form is missing.
        tokens_of: list[list[str]] = []
        for f in forms:
            if not f:
                tokens_of.append([])
            elif "-" in f and not self.decoder.lookup_word(f):
                tokens_of.append([p for p in f.split("-") if p])
            else:
                tokens_of.append([f])
        unknown = self.ensure_words([t for ts in tokens_of for t in ts])
        tokens_of = [[] if any(t in unknown for t in ts) else ts for ts in tokens_of]
        flat = [t for ts in tokens_of for t in ts]
        result = [AlignedWord(None, None) for _ in words]
        if not flat or len(audio) < SAMPLE_RATE * 0.05:
            return result
        pcm = to_pcm16(audio, np.random.default_rng(0))
        # Cepstral mean normalisation adapts from utterance to utterance; a mean left by
        # another talker can make an alignment fail. Start from the initial mean, let one
        # pass adapt it to this audio, and align again: the result depends on this audio only.
        self.decoder.set_cmn(self._cmn_init)
        segs: list[Any] | None = None
        for _ in range(2):
            try:
                self.decoder.set_align_text(" ".join(flat))
                self.decoder.start_utt()
                self.decoder.process_raw(pcm, False, True)
                self.decoder.end_utt()
            except RuntimeError:
                return result
            found = [s for s in (self.decoder.seg() or []) if not is_filler(s.word)]
            if len(found) == len(flat) and all(base_word(s.word) == t for s, t in zip(found, flat)):
                segs = found
        if segs is None:
            return result
        k = 0
        for i, ts in enumerate(tokens_of):
            if not ts:
                continue
            first, last = segs[k], segs[k + len(ts) - 1]
            frames = sum(max(s.end_frame - s.start_frame + 1, 1) for s in segs[k : k + len(ts)])
            ascore = sum(log_score(s.ascore) for s in segs[k : k + len(ts)]) / frames
            result[i] = AlignedWord(first.start_frame * FRAME_S, (last.end_frame + 1) * FRAME_S, ascore)
            k += len(ts)
        return result
