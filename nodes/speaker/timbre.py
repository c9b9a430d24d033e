"""Timbre: the spectral envelope of a voice under a universal background GMM, a second voice cue.

The GE2E encoder was trained on people; two espeak-ng voices that differ mostly in formant
settings (en-us+m3 and en-gb-x-rp+m1) sit close in its space, and most returns the diariser
lost were turns misnamed between them. Their cepstra differ plainly. Every true turn of the
bench's meetings 1-388 named by the closest true talker's other turns (as
``bench_diarization.voice_names``): GE2E alone misnames 40 of 6,042, this supervector's cosine
alone 76, their sum 11 (of the 5,094 turns spoken alone: 23, 39 and 1; the channel mean heard,
the background model as shipped, the running mean as the node takes it out).

Each window of the embedding node carries the zeroth and first order statistics of its new
stretch's frames under a fixed background model (``TimbreUbm``, fitted by
``tools/fit_timbre_ubm.py`` on voices the meetings never use); statistics add, so a run's or a
cluster's are sums, and refinement compares two clusters by the cosine of their MAP-adapted
mean supervectors (``supervector``), the classic GMM supervector kernel. Cepstral means are
taken out online (``RunningCmn``): a room and a beam colour every talker alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.fft import dct

#: The background model shipped with the node library (tools/fit_timbre_ubm.py writes it).
BUNDLED = Path(__file__).with_name("timbre_ubm.npz")
N_CEPS = 19  # c1..c19: c0 (loudness) follows distance and gain, not the voice
DELTA_SPAN = 2  # frames either side for the deltas' regression
FLOOR_DB = 50.0  # frames this far below the loudest frame heard are left out (pauses inside a segment)


def cepstra(mel_power: np.ndarray) -> np.ndarray:
    """(frames, 2 * N_CEPS): mel cepstra c1..c19 of a (frames, mels) power spectrogram, with their deltas."""
    logmel = np.log(np.maximum(mel_power, 1e-10))
    c = dct(logmel, type=2, norm="ortho", axis=1)[:, 1 : N_CEPS + 1]
    if len(c) == 0:
        return np.zeros((0, 2 * N_CEPS), dtype=np.float32)
    pad = np.pad(c, ((DELTA_SPAN, DELTA_SPAN), (0, 0)), mode="edge")
    k = np.arange(1, DELTA_SPAN + 1)
    d = sum(kk * (pad[DELTA_SPAN + kk : len(c) + DELTA_SPAN + kk] - pad[DELTA_SPAN - kk : len(c) + DELTA_SPAN - kk]) for kk in k)
    d = d / (2 * float(np.sum(k**2)))
    return np.hstack([c, d]).astype(np.float32)


def loud_frames(mel_power: np.ndarray, floor_db: float = FLOOR_DB) -> np.ndarray:
    """Which frames to learn a voice from: those within ``floor_db`` of the loudest."""
    e = 10 * np.log10(np.maximum(mel_power.sum(axis=1), 1e-12))
    return e >= (e.max() if len(e) else 0.0) - floor_db


@dataclass
class RunningCmn:
    """Cepstral mean of every frame heard so far, taken out of each new frame.

    Online, so the first seconds are normalised by little: the sum is divided by ``prior_frames``
    more frames than were heard, which damps the first estimates toward zero (not toward a
    typical room's mean: the first second of a meeting is normalised only roughly). Starting
    from the training rooms' mean instead changed no label on 59 bench meetings
    (tools/diarization_notes.md, "Timbre"); a refinement pass compares clusters whose speech is
    mostly later.
    """

    prior_frames: float = 100.0
    total: np.ndarray = field(default_factory=lambda: np.zeros(2 * N_CEPS))
    count: float = 0.0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if len(x):
            self.total = self.total + x.sum(axis=0)
            self.count += len(x)
        return (x - self.total / (self.count + self.prior_frames)).astype(np.float32)


@dataclass(frozen=True)
class TimbreUbm:
    """A diagonal-covariance GMM over mean-normalised cepstra: weights (K,), means and variances (K, D)."""

    weights: np.ndarray
    means: np.ndarray
    variances: np.ndarray

    @property
    def size(self) -> int:
        """Length of one stretch's statistics: K zeroth order, K * D first order."""
        k, d = self.means.shape
        return k * (d + 1)

    @classmethod
    def load(cls, path: str | Path = BUNDLED) -> TimbreUbm:
        with np.load(path) as z:
            return cls(z["weights"].astype(np.float64), z["means"].astype(np.float64), z["variances"].astype(np.float64))

    def save(self, path: str | Path, **info: object) -> None:
        np.savez(path, weights=self.weights, means=self.means, variances=self.variances, info=np.array(repr(info)))

    def log_densities(self, x: np.ndarray) -> np.ndarray:
        """(frames, K): log weight plus log density of each frame under each component."""
        prec = 1.0 / self.variances
        const = np.log(self.weights) - 0.5 * (np.log(2 * np.pi * self.variances).sum(axis=1))
        quad = (x**2) @ prec.T - 2 * x @ (self.means * prec).T + np.sum(self.means**2 * prec, axis=1)
        return const - 0.5 * quad

    def posteriors(self, x: np.ndarray) -> np.ndarray:
        ld = self.log_densities(np.asarray(x, dtype=np.float64))
        ld -= ld.max(axis=1, keepdims=True)
        p = np.exp(ld)
        return p / p.sum(axis=1, keepdims=True)

    def stats(self, x: np.ndarray) -> np.ndarray:
        """The frames' statistics, flat: occupancy per component (K), then the posterior-weighted frame sums (K * D)."""
        if len(x) == 0:
            return np.zeros(self.size, dtype=np.float32)
        g = self.posteriors(x)
        return np.concatenate([g.sum(axis=0), (g.T @ np.asarray(x, dtype=np.float64)).ravel()]).astype(np.float32)

    def adapted_means(self, stats: np.ndarray, relevance: float = 16.0, prior: np.ndarray | None = None) -> np.ndarray:
        """(K, D) component means MAP-adapted to the frames behind ``stats`` (a meeting's, a talker's), from ``prior``
        (K, D; default the background's means: a talker's model may start from the meeting's adapted means instead);
        stats with leading dimensions (..., size) give means (..., K, D)."""
        k, d = self.means.shape
        stats = np.asarray(stats, dtype=np.float64)
        n = stats[..., :k, None]
        f = stats[..., k:].reshape(*stats.shape[:-1], k, d)
        return (f + relevance * (self.means if prior is None else prior)) / (n + relevance)

    def supervector(self, stats: np.ndarray, around: np.ndarray | None = None, relevance: float = 16.0) -> np.ndarray:
        """The MAP shift of every component's mean away from ``around`` (K, D; default the background's means), scaled
        so that dot products are the KL-divergence kernel (sqrt(weight) / standard deviation), flat; rows of ``stats``
        give rows. Shifting from the meeting's own adapted means centres the vectors on the meeting: a stretch with
        little speech then comes out near zero, not near minus the meeting's voice."""
        k, d = self.means.shape
        ref = self.means if around is None else around
        n = np.asarray(stats[..., :k], dtype=np.float64)
        f = np.asarray(stats[..., k:], dtype=np.float64).reshape(*n.shape, d)
        shift = (f - n[..., None] * ref) / (n[..., None] + relevance)
        return (shift * (np.sqrt(self.weights)[:, None] / np.sqrt(self.variances))).reshape(*n.shape[:-1], k * d)


def add_stats(total: np.ndarray | None, stats: np.ndarray | None) -> np.ndarray | None:
    """Timbre statistics summed, in float64 (None where there are none yet): a run's, a cluster's, a remembered voice's."""
    if stats is None:
        return total
    return stats.astype(np.float64) if total is None else total + stats


def fit_ubm(x: np.ndarray, components: int = 32, iterations: int = 25, seed: int = 0, var_floor: float = 1e-3) -> TimbreUbm:
    """EM for a diagonal GMM over frames ``x`` (N, D), started from random frames; variances floored."""
    rng = np.random.default_rng(seed)
    x = np.asarray(x, dtype=np.float64)
    means = x[rng.choice(len(x), components, replace=False)]
    var = np.tile(x.var(axis=0), (components, 1))
    ubm = TimbreUbm(np.full(components, 1.0 / components), means, var)
    floor = var_floor * x.var(axis=0)
    for _ in range(iterations):
        g = np.concatenate([ubm.posteriors(x[s : s + 20000]) for s in range(0, len(x), 20000)])
        n = g.sum(axis=0) + 1e-9
        mu = (g.T @ x) / n[:, None]
        v = np.maximum((g.T @ x**2) / n[:, None] - mu**2, floor)
        ubm = TimbreUbm(n / n.sum(), mu, v)
    return ubm
