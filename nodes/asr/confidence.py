"""Calibrated word confidence from decoder features, and the metrics that judge it.

Whisper's word probability alone is a poor confidence: it is the mean of the word's token
probabilities under the decoder's own (over-confident) distribution. Following the
practice of production recognisers (arXiv 2105.00858: confidence from decoding features),
a word's confidence here is a logistic model over several pieces of evidence:

* the second pass's mean and minimum token probability of the word;
* how many of the beam's runner-up hypotheses have the same word at the same place (a
  poor man's confusion network: words the beam is unsure of differ between them);
* how many tokens the word took (rare words split into many);
* whether the first pass (pocketsphinx, a different model family) has the same word at
  the same place in its hypothesis (agreement between the passes);
* whether the acoustic model could force-align the word, and how well (acoustic score
  per frame relative to the utterance's average);
* the word's duration per character (squeezed or stretched words are suspicious);
* the segment's average log probability and no-speech probability, and whether the
  decode needed its fallback path;
* whether the word sits at the edge of its segment (cut words live there).

The model is fitted on generated speech with known text by ``tools/fit_confidence.py``,
which writes ``confidence_model.json`` beside this module; without that file the raw
Whisper probability is used. Usable without the engine.
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .pronounce import normalize_word

MODEL_PATH = Path(__file__).with_name("confidence_model.json")

FEATURES = (
    "logit_prob",
    "logit_min_prob",
    "nbest_agree",
    "log_tokens",
    "agree",
    "aligned",
    "ascore_rel",
    "sec_per_char",
    "avg_logprob",
    "no_speech_prob",
    "edge",
    "fallback",
)


@dataclass
class WordEvidence:
    """What the decoders said about one final word."""

    prob: float
    min_prob: float
    tokens: int
    agree: bool
    aligned: bool
    ascore_rel: float  # aligned acoustic log-likelihood per frame minus the segment's mean (0 if not aligned)
    duration: float
    chars: int
    avg_logprob: float
    no_speech_prob: float
    edge: bool
    fallback: bool
    nbest_agree: float = 1.0  # share of runner-up hypotheses with the same word there

    def vector(self) -> np.ndarray:
        def logit(p: float) -> float:
            p = min(max(p, 1e-4), 1 - 1e-4)
            return math.log(p / (1 - p))

        return np.array(
            [
                logit(self.prob),
                logit(self.min_prob),
                self.nbest_agree,
                math.log(max(self.tokens, 1)),
                float(self.agree),
                float(self.aligned),
                max(min(self.ascore_rel, 5.0), -5.0),
                min(self.duration / max(self.chars, 1), 0.5),
                max(self.avg_logprob, -3.0),
                self.no_speech_prob,
                float(self.edge),
                float(self.fallback),
            ],
            dtype=np.float64,
        )


def agreement(final_words: Sequence[str], other_words: Sequence[str]) -> list[bool]:
    """For each final word: does the other hypothesis have it at the matching place?"""
    a = [normalize_word(w) for w in final_words]
    b = [normalize_word(w) for w in other_words]
    out = [False] * len(a)
    for block in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            out[block.a + k] = bool(a[block.a + k])
    return out


@dataclass
class Calibrator:
    """Logistic regression over ``FEATURES`` (standardised), fitted with Newton's method."""

    coef: np.ndarray = field(default_factory=lambda: np.zeros(len(FEATURES)))
    intercept: float = 0.0
    mean: np.ndarray = field(default_factory=lambda: np.zeros(len(FEATURES)))
    scale: np.ndarray = field(default_factory=lambda: np.ones(len(FEATURES)))
    fitted: bool = False

    def predict(self, X: np.ndarray) -> np.ndarray:
        z = ((np.atleast_2d(X) - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))

    def confidence(self, ev: WordEvidence) -> float:
        if not self.fitted:
            return float(min(max(ev.prob, 0.0), 1.0))
        return float(self.predict(ev.vector())[0])

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, l2: float = 1.0, iterations: int = 50) -> "Calibrator":
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        scale[scale < 1e-9] = 1.0
        Z = np.hstack([(X - mean) / scale, np.ones((len(X), 1))])
        w = np.zeros(Z.shape[1])
        reg = np.full(Z.shape[1], l2)
        reg[-1] = 0.0  # no penalty on the intercept
        for _ in range(iterations):
            p = 1.0 / (1.0 + np.exp(-np.clip(Z @ w, -30, 30)))
            grad = Z.T @ (p - y) + reg * w
            H = (Z * (p * (1 - p))[:, None]).T @ Z + np.diag(reg) + 1e-9 * np.eye(len(w))
            step = np.linalg.solve(H, grad)
            w -= step
            if np.max(np.abs(step)) < 1e-8:
                break
        return cls(w[:-1], float(w[-1]), mean, scale, True)

    def to_json(self) -> dict:
        return {
            "features": list(FEATURES),
            "coef": [round(float(c), 6) for c in self.coef],
            "intercept": round(self.intercept, 6),
            "mean": [round(float(c), 6) for c in self.mean],
            "scale": [round(float(c), 6) for c in self.scale],
        }

    @classmethod
    def from_json(cls, d: dict) -> "Calibrator":
        if list(d.get("features", [])) != list(FEATURES):
            raise ValueError("confidence model was fitted on other features; refit it with tools/fit_confidence.py")
        scale = np.array(d["scale"], float)
        scale[~(scale > 1e-9)] = 1.0  # a feature that did not vary in the fit
        return cls(np.array(d["coef"], float), float(d["intercept"]), np.array(d["mean"], float), scale, True)

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Calibrator":
        """The fitted model at ``path`` (default: the bundled one); unfitted if there is none."""
        p = Path(path) if path else MODEL_PATH
        if not p.exists():
            if path:
                raise FileNotFoundError(f"confidence model '{p}' does not exist")
            return cls()
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read confidence model '{p}': {exc}") from None
        return cls.from_json(d.get("calibrator", d))


# -- metrics ---------------------------------------------------------------------------------------
def ece(conf: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: |accuracy - mean confidence| averaged over equal-width bins."""
    conf = np.asarray(conf, float)
    correct = np.asarray(correct, float)
    idx = np.minimum((conf * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.sum() * abs(correct[m].mean() - conf[m].mean())
    return float(total / max(len(conf), 1))


def nce(conf: np.ndarray, correct: np.ndarray) -> float:
    """Normalised cross entropy (NIST): 1 is perfect, 0 is no better than the base rate, < 0 worse."""
    conf = np.clip(np.asarray(conf, float), 1e-6, 1 - 1e-6)
    c = np.asarray(correct, bool)
    n = len(c)
    pc = c.mean() if n else 0.0
    if n == 0 or pc in (0.0, 1.0):
        return float("nan")
    h_base = -(c.sum() * math.log2(pc) + (n - c.sum()) * math.log2(1 - pc))
    h = -(np.log2(conf[c]).sum() + np.log2(1 - conf[~c]).sum())
    return float((h_base - h) / h_base)


def auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for detecting ``positive`` (ties count half)."""
    score = np.asarray(score, float)
    pos = np.asarray(positive, bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    s = score[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i : j + 1]] = 0.5 * (i + j) + 1
        i = j + 1
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
