"""Resegmentation by timbre: stretches move between two labels the encoder hears alike where their timbre says so.

The GE2E encoder hears the espeak-ng voices en-us+m3 and en-gb-x-rp+m1 as nearly one voice,
and each stretch's embedding hears the 1.5 s window ending with it, so where one of them hands
over to the other inside a speech segment, standing a few degrees apart, neither the place nor
the voice cuts the run, and a whole turn can go under the other's label (sim288 at 24.6 s: 3 s
of rp+m1 under m3's label, a return lost). Timbre tells them apart stretch by stretch: each
stretch carries the cepstral statistics of its own 0.5 s (``timbre.py``), not of a window
reaching back. Scored against each label's model (the background GMM's means MAP-adapted to
the label's other stretches), a single stretch of the pair spoken alone is named right 96% of
the time, three in a row (1.5 s) 99.8%, where the 1.5 s GE2E window is 97.2% right (meetings
1-60, the pair's turns spoken alone; ``tools/timbre_pair_probe.py``; ``tools/diarization_notes.md``,
"Resegmentation by timbre").

So after each refinement pass, every speech segment is decoded again (Viterbi over its
stretches): a stretch's score for a label is its log-likelihood under that label's timbre
model (linear scoring: the statistics need no frames), plus ``stay`` for the label clustering
gave it, and changing label inside the segment costs ``switch``. A stretch may only move
between two labels the encoder hears alike: between voices it tells apart the clustering's
decision stands (without that gate, four returns on meetings 1-388 were lost to timbre's
mistakes between unlike voices). Alike: the cosine of the two labels' summed GE2E embeddings,
less the training voices' mean, above ``alike``. Not less the meeting's own mean voice: two
labels alone in a pass are then always opposite (their centred sums cancel), and asked as well,
it kept sim920's return from being won (tools/diarization_notes.md). Real voices all lie on
one side of the synthetic training voices (different people in the AMI excerpts at 0.35-0.82),
so with real people the gate is open for most pairs and timbre decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .timbre import TimbreUbm

FRAMES_PER_S = 100.0  # the timbre statistics count 10 ms frames


@dataclass(frozen=True)
class ResegConfig:
    switch: float = 50.0  # log-likelihood (nats) a change of label inside a speech segment costs
    stay: float = 10.0  # log-likelihood (nats) in favour of the label clustering gave a stretch
    alike: float = 0.55  # a stretch moves only between labels whose voices' GE2E cosine (about the training voices' mean) exceeds this
    min_s: float = 2.0  # a label takes stretches only with this much speech (loud frames) behind its timbre model
    relevance: float = 16.0  # MAP relevance factor (frames), as refinement's


def stretch_logliks(ubm: TimbreUbm, stats: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Log-likelihood of each row of ``stats`` under a model with ``means`` (K, D; or one model per row, (rows, K, D)),
    up to a term common to every model.

    Linear scoring: with the frames' component occupancies fixed by the background model, a
    frame's Gaussian log density differs between models only by ``f.S^-1.mu - n.mu.S^-1.mu / 2``
    summed over components, where ``n`` and ``f`` are the zeroth and first order statistics.
    """
    k, d = ubm.means.shape
    stats = np.atleast_2d(stats)
    n = stats[:, :k]
    f = stats[:, k:].reshape(len(stats), k, d)
    weighted = means / ubm.variances
    if means.ndim == 2:
        return np.einsum("ncd,cd->n", f, weighted) - 0.5 * n @ np.sum(means * weighted, axis=1)
    return np.einsum("ncd,ncd->n", f, weighted) - 0.5 * np.einsum("nc,ncd->n", n, means * weighted)


def _own_logliks(ubm: TimbreUbm, rows: np.ndarray, total: np.ndarray, around: np.ndarray, relevance: float) -> np.ndarray:
    """``stretch_logliks`` of each row under the model adapted to ``total`` less that row (leave one out), all at once."""
    k, d = ubm.means.shape
    rest = total[None] - rows
    means = (rest[:, k:].reshape(len(rows), k, d) + relevance * around[None]) / (rest[:, :k] + relevance)[..., None]
    return stretch_logliks(ubm, rows, means)


def _alike_pairs(names: list[int], voices: dict[int, np.ndarray], above: float) -> set[tuple[int, int]]:
    """Pairs of labels whose voices (summed embeddings less the centre) the encoder hears alike: cosine above ``above``."""
    unit = {lab: v / max(float(np.linalg.norm(v)), 1e-12) for lab, v in voices.items()}
    return {(a, b) for a in names for b in names if a != b and float(unit[a] @ unit[b]) > above}


def _viterbi(scores: np.ndarray, switch: float) -> list[int]:
    """Best path through ``scores`` (stretches x labels) where a change of label costs ``switch``."""
    n, m = scores.shape
    best = scores[0].copy()
    back = np.zeros((n, m), dtype=int)
    for r in range(1, n):
        top = int(best.argmax())
        moved = best[top] - switch
        back[r] = np.where(best >= moved, np.arange(m), top)
        best = np.maximum(best, moved) + scores[r]
    path = [int(best.argmax())]
    for r in range(n - 1, 0, -1):
        path.append(int(back[r][path[-1]]))
    return path[::-1]


def resegment(segments: Sequence[str | None], stats: np.ndarray, voices: np.ndarray, labels: Sequence[int],
              extra_stats: dict[int, np.ndarray], extra_voices: dict[int, tuple[np.ndarray, float]], ubm: TimbreUbm,
              centre: np.ndarray, config: ResegConfig) -> list[int]:
    """``labels`` (one per stretch, in time order) with stretches moved between alike labels where timbre says so.

    ``segments``: each stretch's speech segment (None: decoded alone); ``stats``: their timbre
    statistics (rows); ``voices``: their GE2E embeddings (rows, as heard); ``extra_stats`` and
    ``extra_voices``: a label's evidence from outside these stretches (a remembered voice: its
    statistics summed; its mean embedding and how many stretches it stands for); ``centre``:
    the mean embedding of many voices (the voice compensation's training mean), about which the
    labels' voices are compared.
    """
    out = list(labels)
    n = len(labels)
    if n == 0:
        return out
    stats = np.asarray(stats, dtype=np.float64)
    names = sorted(set(labels) | set(extra_stats) | set(extra_voices))
    tstat = {lab: np.zeros(stats.shape[1]) for lab in names}
    vsum = {lab: np.zeros(voices.shape[1]) for lab in names}
    for i, lab in enumerate(labels):
        tstat[lab] += stats[i]
        vsum[lab] += voices[i] - centre
    for lab, s in extra_stats.items():
        tstat[lab] += s
    for lab, (mean, count) in extra_voices.items():
        vsum[lab] += count * (mean - centre)
    k = ubm.means.shape[0]
    cand = [lab for lab in names if tstat[lab][:k].sum() / FRAMES_PER_S >= config.min_s]
    if len(cand) < 2:
        return out
    total = stats.sum(axis=0) + sum(extra_stats.values(), np.zeros(stats.shape[1]))
    around = ubm.adapted_means(total, config.relevance)
    alike = _alike_pairs(names, vsum, config.alike)
    ll = np.empty((n, len(cand)))
    for c, lab in enumerate(cand):
        ll[:, c] = stretch_logliks(ubm, stats, ubm.adapted_means(tstat[lab], config.relevance, prior=around))
    pos = {lab: c for c, lab in enumerate(cand)}
    own = np.array(labels)
    for lab, c in pos.items():  # a stretch is scored against its own label's other stretches
        rows = np.flatnonzero(own == lab)
        if len(rows):
            ll[rows, c] = _own_logliks(ubm, stats[rows], tstat[lab], around, config.relevance)
    start = 0
    while start < n:
        end = start + 1
        while end < n and segments[start] is not None and segments[end] == segments[start]:
            end += 1
        scores = ll[start:end].copy()
        for r, lab in enumerate(labels[start:end]):
            if lab in pos:
                scores[r, pos[lab]] += config.stay
        for r, c in enumerate(_viterbi(scores, config.switch)):
            lab, new = labels[start + r], cand[c]
            if new != lab and (new, lab) in alike:
                out[start + r] = new
        start = end
    return out
