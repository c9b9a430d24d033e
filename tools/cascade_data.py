"""Generated speech decoded by the cascade, for the confidence and timing recipes.

Shared by ``tools/fit_confidence.py`` and ``tools/bench_timestamps.py``. Utterances are
espeak-ng sentences with exact word boundaries (``nodes/sim/timed_tts.py``), spoken by
varied voices at varied speeds, some with added noise, grouped into "sessions" of a few
utterances decoded in order (the second pass uses the previous finals as context, as in
a meeting). Each utterance goes through the same code the nodes run: the first pass
(``SphinxRecognizer``, fed in 32 ms chunks) and the second pass (``SecondPass``: Whisper
final, forced alignment, confidence evidence). Splits hold out both sentences and voices.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nodes.sim.sentences import SENTENCES  # noqa: E402
from nodes.sim.timed_tts import TimedWord, synthesize_timed  # noqa: E402

SPLITS = {
    # (sentences, voices): neither is shared between the splits
    "train": (SENTENCES[0::2], ["en-us+m3", "en-us+klatt", "en-us+f2", "en-gb-scotland+m7", "en-029", "en+f5"]),
    "test": (SENTENCES[1::2], ["en-gb-x-rp+m1", "en-us", "en-us+f4", "en-us-nyc", "en+m1", "en-us+klatt4"]),
}


@dataclass
class Utterance:
    text: str
    voice: str
    wpm: int
    snr_db: float | None
    audio: np.ndarray  # 16 kHz, with 0.3 s of silence (or noise) around the speech
    words: list[TimedWord]  # exact, in seconds from the start of ``audio``


@dataclass
class Decoded:
    utt: Utterance
    first_pass: list[str]
    final: Any  # second_pass.FinalResult
    whisper_words: list[Any] = field(default_factory=list)  # raw Whisper words (DTW times)


def make_utterances(split: str, repeats: int = 2, seed: int = 0, limit: int | None = None) -> list[Utterance]:
    sentences, voices = SPLITS[split]
    rng = random.Random(seed + (0 if split == "train" else 1000))
    out: list[Utterance] = []
    for r in range(repeats):
        for i, text in enumerate(sentences):
            voice = voices[(i + r * 3) % len(voices)]
            wpm = rng.choice([150, 170, 190, 210])
            snr = rng.choice([None, None, 20.0, 10.0])
            sp = synthesize_timed(text, voice, 16000, wpm)
            pad = np.zeros(int(0.3 * 16000), dtype=np.float32)
            audio = np.concatenate([pad, sp.audio, pad])
            if snr is not None:
                nrng = np.random.default_rng(seed * 7919 + len(out))
                power = float(np.mean(sp.audio**2)) or 1e-6
                audio = audio + nrng.standard_normal(len(audio)).astype(np.float32) * np.sqrt(power / 10 ** (snr / 10))
            words = [TimedWord(w.text, w.t0 + 0.3, w.t1 + 0.3, w.exact) for w in sp.words]
            out.append(Utterance(text, voice, wpm, snr, audio.astype(np.float32), words))
            if limit and len(out) >= limit:
                return out
    return out


def decode_all(utts: list[Utterance], session: int = 6, threads: int = 2, progress: bool = True) -> list[Decoded]:
    """Run both passes over ``utts``; every ``session`` utterances the context starts afresh."""
    from nodes.asr.confidence import Calibrator
    from nodes.asr.second_pass import SecondPass
    from nodes.asr.sphinx_model import SphinxAligner, SphinxRecognizer
    from nodes.asr.timestamps import TimingModel
    from nodes.asr.whisper_model import load_model
    from nodes.asr.whisper_window import WindowOptions

    model = load_model(None, "int8", threads)
    first = SphinxRecognizer()
    # Raw evidence: no calibration, no timing corrections (the recipes fit those).
    second = SecondPass(model, WindowOptions(), SphinxAligner(), Calibrator(), TimingModel())
    out: list[Decoded] = []
    for k, u in enumerate(utts):
        if k % session == 0:
            second.reset()
        first.start()
        for i in range(0, len(u.audio), 512):
            first.feed(u.audio[i : i + 512])
        fp = first.finish()
        captured: list[Any] = []
        decode = second.decoder.decode

        def spy(*a: Any, **kw: Any) -> Any:
            r = decode(*a, **kw)
            captured.append(r)
            return r

        second.decoder.decode = spy  # type: ignore[method-assign]
        try:
            final = second.finalize(u.audio, [w.text for w in fp.words])
        finally:
            second.decoder.decode = decode  # type: ignore[method-assign]
        raw = [w for w in captured[0].words if w.text.strip()] if captured else []
        out.append(Decoded(u, [w.text for w in fp.words], final, raw))
        if progress and (k + 1) % 20 == 0:
            print(f"    decoded {k + 1}/{len(utts)}", file=sys.stderr, flush=True)
    return out


def label_words(ref: str, words: list[str]) -> list[bool | None]:
    """For each hypothesis word: True if it matches the reference, False if not, None if
    it has no scoreable text (punctuation)."""
    import jiwer

    from nodes.transcript.textnorm import normalize

    toks: list[str] = []
    owner: list[int] = []
    for i, w in enumerate(words):
        for t in normalize(w).split():
            toks.append(t)
            owner.append(i)
    r = normalize(ref)
    labels: list[bool | None] = [None] * len(words)
    if not toks:
        return labels
    ok = [False] * len(toks)
    if r:
        out = jiwer.process_words(r, " ".join(toks))
        for chunk in out.alignments[0]:
            if chunk.type == "equal":
                for j in range(chunk.hyp_start_idx, chunk.hyp_end_idx):
                    ok[j] = True
    for j, i in enumerate(owner):
        labels[i] = ok[j] if labels[i] is None else (labels[i] and ok[j])
    return labels


def matched_words(ref_words: list[TimedWord], hyp: list[str]) -> list[tuple[int, int]]:
    """Pairs (hypothesis index, reference index) of words recognised correctly (by alignment)."""
    import jiwer

    from nodes.transcript.textnorm import normalize

    rt: list[str] = []
    rown: list[int] = []
    for i, w in enumerate(ref_words):
        for t in normalize(w.text).split():
            rt.append(t)
            rown.append(i)
    ht: list[str] = []
    hown: list[int] = []
    for i, w in enumerate(hyp):
        for t in normalize(w).split():
            ht.append(t)
            hown.append(i)
    if not rt or not ht:
        return []
    pairs: dict[int, int] = {}
    out = jiwer.process_words(" ".join(rt), " ".join(ht))
    for chunk in out.alignments[0]:
        if chunk.type == "equal":
            for a, b in zip(range(chunk.ref_start_idx, chunk.ref_end_idx), range(chunk.hyp_start_idx, chunk.hyp_end_idx)):
                pairs.setdefault(hown[b], rown[a])
    return sorted(pairs.items())
