"""A talker's pitch over a window of speech: the median fundamental frequency of its voiced frames (YIN).

Why a diariser wants it: the GE2E embedding of one talker moves with where they stand in the
room (tools/diarization_notes.md, "Voice compensation"), and two alike voices can sit closer in
embedding space than one voice at two places. The fundamental frequency is a property of the
larynx, not of the room: reverberation and the beam leave it where it is, so the median pitch of
a stretch says something about who speaks that no position can fake (the classic prosodic cue of
speaker recognition and diarisation). Two talkers may share a pitch, so agreeing pitches argue
only a little for one talker, and differing ones more for two (``PitchModel``).

The estimator is YIN (de Cheveigné and Kawahara, 2002): the cumulative-mean-normalised
difference function of each 50 ms frame and, within the lags of ``fmin``-``fmax``, its deepest
dip below ``threshold`` (YIN takes the first; in reverberant speech the deepest has fewer
octave errors), refined by a parabola. The threshold is 0.35 rather than the paper's 0.1-0.15 for
dry speech: through a room and a beam, a low voice's dips rarely reach 0.15. Frames much quieter
than the window's loudest are unvoiced (pauses, breath), and so are frames with no dip under it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PitchConfig:
    fmin: float = 60.0  # Hz: lowest fundamental looked for (deep male voices)
    fmax: float = 400.0  # Hz: highest (children, high female voices)
    frame_s: float = 0.05  # analysis frame (s): at least two periods of fmin
    hop_s: float = 0.01
    threshold: float = 0.35  # YIN's absolute threshold on the normalised difference (0.1-0.15 in the paper, for dry speech)
    floor_db: float = -30.0  # frames this far below the window's loudest frame are unvoiced
    min_voiced_s: float = 0.2  # a window with less voiced speech than this gives no pitch


def window_pitch(x: np.ndarray, rate: int, config: PitchConfig = PitchConfig()) -> tuple[float | None, float]:
    """(median log2 of the fundamental frequency over the voiced frames, or None; seconds of voiced frames)."""
    f0 = frame_f0(x, rate, config)
    voiced = f0[np.isfinite(f0)]
    seconds = len(voiced) * config.hop_s
    if seconds < config.min_voiced_s:
        return None, seconds
    return float(np.median(np.log2(voiced))), seconds


def frame_f0(x: np.ndarray, rate: int, config: PitchConfig = PitchConfig()) -> np.ndarray:
    """The fundamental frequency (Hz) of each frame of ``x``; NaN where unvoiced."""
    c = config
    n = int(round(c.frame_s * rate))
    hop = int(round(c.hop_s * rate))
    max_lag = min(int(math.ceil(rate / c.fmin)), n // 2)
    min_lag = max(int(rate / c.fmax), 2)
    w = n - max_lag  # the difference function sums over this many samples at every lag
    x = np.asarray(x, dtype=np.float64)
    if len(x) < n:
        return np.zeros(0)
    count = 1 + (len(x) - n) // hop
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[::hop][:count]
    frames = frames - frames.mean(axis=1, keepdims=True)
    energy = np.einsum("ij,ij->i", frames[:, :w], frames[:, :w])
    loud = energy > energy.max() * 10 ** (c.floor_db / 10)  # (at least one frame: len(x) >= n)
    # d(tau) = sum_j (x_j - x_{j+tau})^2 over j < w = E(0) + E(tau) - 2 r(tau)
    size = 1 << int(math.ceil(math.log2(n + w)))
    spec = np.fft.rfft(frames, size, axis=1)
    head = np.fft.rfft(frames[:, :w], size, axis=1)
    r = np.fft.irfft(spec * np.conj(head), size, axis=1)[:, : max_lag + 1]
    sq = np.cumsum(np.square(frames), axis=1)
    sq = np.concatenate([np.zeros((count, 1)), sq], axis=1)
    e_tau = sq[:, w: w + max_lag + 1] - sq[:, : max_lag + 1]  # sum of x_{j+tau}^2 for j < w
    d = np.maximum(energy[:, None] + e_tau - 2.0 * r, 0.0)
    d[:, 0] = 0.0
    running = np.cumsum(d[:, 1:], axis=1)
    cmnd = np.ones_like(d)
    cmnd[:, 1:] = d[:, 1:] * np.arange(1, max_lag + 1) / np.maximum(running, 1e-12)
    out = np.full(count, np.nan)
    for i in np.flatnonzero(loud):
        row = cmnd[i]
        tau = int(np.argmin(row[min_lag:max_lag])) + min_lag  # the deepest dip, if it is under the threshold
        if row[tau] >= c.threshold:
            continue
        while tau + 1 < max_lag and row[tau + 1] < row[tau]:  # down to the bottom of the dip
            tau += 1
        a, b, cc = row[tau - 1], row[tau], row[tau + 1] if tau + 1 <= max_lag else row[tau]
        den = a - 2 * b + cc
        shift = 0.5 * (a - cc) / den if den > 1e-12 else 0.0
        out[i] = rate / (tau + max(-0.5, min(0.5, shift)))
    return out


@dataclass(frozen=True)
class PitchModel:
    """How far two stretches' median pitches may differ when one talker speaks both.

    A stretch with ``w`` seconds of voiced speech measures its talker's pitch with variance
    ``sd_per_s**2 / w`` (octaves): intonation moves the median of a short stretch around the
    talker's own level; ``floor`` is what is left however long the stretches are (a talker's
    level drifts between turns). ``sd_per_s`` was measured on voices the benchmark never uses
    (tools/fit_voice_compensation.py prints it: 0.0546); on those synthetic voices the level did
    not drift at all, and ``floor`` is the drift allowed for a real one (on meetings 1-196, 0.03
    octave split fewer talkers than none).

    The score of a difference ``d`` is its log-likelihood under one talker, -d^2 / 2 var, plus
    1/2: centred, so that over the pairs one talker gives it is zero on average, and a clustering
    whose stopping threshold was set without pitch stops where it did for the same talker. Beyond
    ``cap_sd`` standard deviations it counts as ``cap_sd``: a run that mixes two talkers, or a
    window with an octave error, is not infinitely unlike either of them. So it lies between
    -(cap_sd^2 - 1) / 2 (-4 nats) and +1/2.
    """

    sd_per_s: float = 0.0546  # octaves, for one second of voiced speech
    floor: float = 0.03  # octaves
    cap_sd: float = 3.0

    def penalty(self, sum_a: float, w_a: float, sum_b: float, w_b: float) -> float:
        """The score (nats) of two stretches' pitches under one talker; ``sum_*`` are voiced-second-weighted
        sums of log2 pitch and ``w_*`` their voiced seconds; either without voiced speech says nothing (0)."""
        if w_a <= 0 or w_b <= 0:
            return 0.0
        return float(self._score(sum_a / w_a - sum_b / w_b, 1.0 / w_a + 1.0 / w_b))

    def penalties(self, sums: np.ndarray, weights: np.ndarray, i: int) -> np.ndarray:
        """``penalty`` of cluster ``i`` against every cluster (vectorised; 0 where either has no voiced speech)."""
        ok = (weights > 0) & (weights[i] > 0)
        w = np.where(ok, weights, 1.0)
        wi = weights[i] if weights[i] > 0 else 1.0
        return np.where(ok, self._score(sums / w - sums[i] / wi, 1.0 / w + 1.0 / wi), 0.0)

    def _score(self, d: float | np.ndarray, inverse_weights: float | np.ndarray) -> np.ndarray:
        """The centred, capped score of a pitch difference ``d`` between two means; ``inverse_weights``: 1/w_a + 1/w_b."""
        var = self.sd_per_s**2 * inverse_weights + 2.0 * self.floor**2
        return -0.5 * (np.minimum(np.square(d) / var, self.cap_sd**2) - 1.0)
