"""Every particle's speakers' timbre models, kept ready to score a stretch: the live particle filter's timbre term.

The particle filter (``particle_filter.py``) scores each new stretch's timbre statistics
(``timbre.py``) under each particle's model of each speaker: the background means MAP-adapted
to the stretches the particle gave that speaker. Adapting 200 particles x every speaker afresh
at each stretch tripled the diariser's CPU on the bench's 90 s meetings; but a stretch changes
one speaker per particle, so the models are kept adapted (as means over variances and their
squared norms, what linear scoring needs) and only the drawn speaker's are refreshed.

Every particle gives every stretch to one of its speakers, so the meeting's model (all stretches
pooled), which a talker not heard yet is scored by, is the same in every particle: one model.
"""

from __future__ import annotations

import numpy as np

from .timbre import TimbreUbm
from .timbre_reseg import stretch_logliks


class SpeakerTimbres:
    """Timbre statistics and adapted models per (particle, speaker slot); see the module docstring."""

    def __init__(self, ubm: TimbreUbm, particles: int, slots: int, relevance: float) -> None:
        self.ubm = ubm
        self.relevance = relevance
        k, d = ubm.means.shape
        self.stats = np.zeros((particles, slots, ubm.size), dtype=np.float32)  # sums of the speakers' stretches' statistics
        # linear scoring's two parts of each model: adapted means over variances (flat), and their inner product with the means
        self.weighted = np.empty((particles, slots, k * d), dtype=np.float32)
        self.square = np.empty((particles, slots, k), dtype=np.float32)
        self.pooled = np.zeros(ubm.size)  # every stretch since the (re)start
        # every (particle, slot) starts as the same empty model: worked out once and copied, not once per pair
        # (200 particles x 10 slots took 0.1-0.5 s, and the diariser builds its live filter inside a pass)
        self._refresh(0, slice(0, 1))
        self.weighted[:] = self.weighted[0, 0]
        self.square[:] = self.square[0, 0]

    def _refresh(self, rows: np.ndarray | slice | int, slots: np.ndarray | slice) -> None:
        means = self.ubm.adapted_means(self.stats[rows, slots], self.relevance)
        weighted = means / self.ubm.variances
        self.weighted[rows, slots] = weighted.reshape(*weighted.shape[:-2], -1)
        self.square[rows, slots] = np.sum(means * weighted, axis=-1)

    def loglik(self, stats: np.ndarray, used: int) -> np.ndarray:
        """(particles, used) log-likelihood ratio of one stretch's statistics under each of the first ``used`` speakers'
        models against the meeting's model (``timbre_reseg.stretch_logliks``'s linear scoring)."""
        k = self.ubm.means.shape[0]
        x = np.asarray(stats, dtype=np.float32)
        own = self.weighted[:, :used] @ x[k:] - 0.5 * (self.square[:, :used] @ x[:k])
        meeting = stretch_logliks(self.ubm, x.astype(np.float64), self.ubm.adapted_means(self.pooled, self.relevance))[0]
        return own.astype(np.float64) - meeting

    def add(self, rows: np.ndarray, slots: np.ndarray, stats: np.ndarray) -> None:
        """Each particle ``rows[i]`` gave the stretch with ``stats`` to its speaker ``slots[i]``."""
        x = np.asarray(stats, dtype=np.float32)
        self.stats[rows, slots] += x
        self.pooled += x
        self._refresh(rows, slots)

    def reseed(self, per_slot: np.ndarray) -> None:
        """Every particle's speakers take these statistics (slots, size): a restart from one labelling."""
        self.stats[:] = per_slot[None]
        self.pooled = per_slot.sum(axis=0).astype(np.float64)
        self._refresh(0, slice(None))
        self.weighted[1:] = self.weighted[0]
        self.square[1:] = self.square[0]

    def take(self, idx: np.ndarray, used: int) -> None:
        """After resampling: particle ``i`` becomes a copy of particle ``idx[i]`` (slots from ``used`` on are empty in all)."""
        for a in (self.stats, self.weighted, self.square):
            a[:, :used] = a[idx, :used]
