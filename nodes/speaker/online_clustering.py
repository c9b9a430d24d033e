"""The embedding-only baseline: online nearest-centroid clustering of speaker embeddings.

Each stretch of speech joins the speaker whose running mean embedding is most similar (cosine),
with a small bonus for whoever spoke just before (turns are longer than a window), or starts a
new speaker when no mean is similar enough. Also the diariser for mono recordings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .units import Unit


@dataclass
class OnlineClusteringConfig:
    threshold: float = 0.8  # cosine to a speaker's mean needed to join them
    stay_bonus: float = 0.05  # added to the previous speaker's similarity when the unit follows on
    continue_s: float = 1.0  # a unit starting within this of the previous one "follows on"
    max_speakers: int = 12


class OnlineClusterer:
    def __init__(self, config: OnlineClusteringConfig | None = None) -> None:
        self.config = config or OnlineClusteringConfig()
        self.sums: list[np.ndarray] = []
        self.prev: int | None = None
        self.prev_t1 = -np.inf

    def step(self, unit: Unit) -> int:
        c = self.config
        e = unit.vector.astype(np.float64)
        label: int
        if self.sums:
            means = np.stack(self.sums)
            means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
            sims = means @ e
            if self.prev is not None and unit.t0 - self.prev_t1 <= c.continue_s:
                sims[self.prev] += c.stay_bonus
            best = int(np.argmax(sims))
            if sims[best] >= c.threshold or len(self.sums) >= c.max_speakers:
                label = best
                self.sums[best] = self.sums[best] + e
            else:
                label = len(self.sums)
                self.sums.append(e.copy())
        else:
            label = 0
            self.sums.append(e.copy())
        self.prev, self.prev_t1 = label, unit.t1
        return label

    def reseed(self, units: list[Unit], labels: list[int]) -> None:
        """Restart from one labelling of past stretches (a refinement's): speaker ``j``'s mean is that of the stretches labelled ``j``."""
        if not units or len(units) != len(labels) or min(labels) < 0:
            raise ValueError("reseed needs one label (0, 1, ...) per stretch")
        dim = units[0].vector.shape[0]
        self.sums = [np.zeros(dim) for _ in range(max(labels) + 1)]
        for u, lab in zip(units, labels):
            self.sums[lab] = self.sums[lab] + u.vector.astype(np.float64)
        self.prev, self.prev_t1 = labels[-1], units[-1].t1
