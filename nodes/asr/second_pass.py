"""The cascade's second pass as plain code: Whisper final, aligned word times, calibrated confidence.

``SecondPass.finalize`` turns one segment's audio (plus the first pass's words, when
there is a first pass) into final words: text from ``WindowDecoder`` (short window, the
previous finals as left context), times from ``timestamps.assign_times`` (forced alignment
by the first pass's acoustic model, Whisper's times as fallback) and confidence from
``confidence.Calibrator``. It keeps the recent finals as context for the next segment, so
segments must be finalised in order. Used by the ``asr.hec`` node, and by the recipes in
``tools/`` that fit and measure the confidence and timing models. Usable without the engine.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .confidence import Calibrator, WordEvidence, agreement
from .timestamps import TimingModel, assign_times
from .whisper_window import SAMPLE_RATE, Context, WindowDecoder, WindowOptions


@dataclass
class FinalWord:
    text: str
    t0: float  # seconds from the start of the segment's audio
    t1: float
    confidence: float
    evidence: WordEvidence


@dataclass
class FinalResult:
    text: str
    words: list[FinalWord] = field(default_factory=list)
    path: str = "window"


class SecondPass:
    """Finalise segments one after another (keeps the recent finals as context)."""

    def __init__(
        self,
        model: Any,
        options: WindowOptions,
        aligner: Any | None = None,
        calibrator: Calibrator | None = None,
        timing: TimingModel | None = None,
        language: str | None = "en",
        history_words: int = 40,
    ) -> None:
        self.decoder = WindowDecoder(model, language)
        self.options = options
        self.aligner = aligner
        self.calibrator = calibrator or Calibrator()
        self.timing = timing or TimingModel()
        self.history_words = history_words
        self._context: deque[Context] = deque(maxlen=16)
        self._history: list[str] = []

    def reset(self) -> None:
        self._context.clear()
        self._history.clear()

    def finalize(self, audio: np.ndarray, first_pass: Sequence[str] | None = None) -> FinalResult:
        audio = np.asarray(audio, dtype=np.float32)
        seconds = len(audio) / SAMPLE_RATE
        context = list(self._context)
        # Older text (before what fits as audio context) primes the decoder as a prompt.
        n_ctx = self._fitting_context(context, seconds)
        older = [c.text for c in context[: len(context) - n_ctx]]
        history = " ".join(" ".join(self._history + older).split()[-self.history_words :])
        r = self.decoder.decode(audio, self.options, context, history)
        words = [w for w in r.words if w.text.strip()]
        if not words:
            self._remember(audio, "")
            return FinalResult("", [], r.path)
        texts = [w.text for w in words]
        if self.aligner is not None:
            al = self.aligner.align(audio, texts)
        else:
            al = []
        spans = [(a.t0, a.t1) for a in al] if al else [(None, None)] * len(words)
        times = assign_times([(w.t0, w.t1) for w in words], spans, self.timing, seconds, [len(t.strip()) for t in texts])
        scores = [a.ascore for a in al if a.ascore is not None] if al else []
        mean_ascore = float(np.mean(scores)) if scores else 0.0
        agree = agreement(texts, first_pass) if first_pass is not None else [False] * len(words)
        alts = [agreement(texts, a.split()) for a in r.alternatives]
        nbest = [sum(a[i] for a in alts) / len(alts) if alts else 1.0 for i in range(len(words))]
        out: list[FinalWord] = []
        for i, (w, t) in enumerate(zip(words, times)):
            a = al[i] if al else None
            ev = WordEvidence(
                prob=w.probability,
                min_prob=w.min_probability,
                tokens=w.tokens,
                agree=agree[i],
                aligned=t.aligned,
                ascore_rel=(a.ascore - mean_ascore) if a is not None and a.ascore is not None else 0.0,
                duration=t.t1 - t.t0,
                chars=len(w.text.strip(" .,!?;:\"'")),
                avg_logprob=r.avg_logprob,
                no_speech_prob=r.no_speech_prob,
                edge=i == 0 or i == len(words) - 1,
                fallback=r.path == "fallback",
                nbest_agree=nbest[i],
            )
            out.append(FinalWord(w.text, t.t0, t.t1, self.calibrator.confidence(ev), ev))
        text = " ".join(texts) if r.truncated else r.text
        self._remember(audio, text)
        return FinalResult(text, out, r.path)

    def _fitting_context(self, context: list[Context], seconds: float) -> int:
        o = self.options
        budget = min(o.context_s, 30.0 - o.pad_s - seconds - 0.5) * SAMPLE_RATE
        used, n = 0.0, 0
        for c in reversed(context):
            if not c.text.strip() or used + len(c.audio) + 0.3 * SAMPLE_RATE > budget:
                break
            used += len(c.audio) + 0.3 * SAMPLE_RATE
            n += 1
        return n

    def _remember(self, audio: np.ndarray, text: str) -> None:
        if not text.strip():  # noise or silence: nothing to carry over
            return
        if len(self._context) == self._context.maxlen:
            self._history.append(self._context[0].text)
            self._history = " ".join(self._history).split()[-self.history_words :]
        self._context.append(Context(audio, text))
