"""Overlapped speech from an array: a second known talker heard under the main one.

The diarisers give one label per moment, so when two people talk at once the quieter one's
speech is credited to the louder one; a short turn said under someone else's then looks like
the talker lost their label. An array hears both: MUSIC's pseudo-spectrum has a second peak
in the other talker's direction (on the simulated meetings a second peak within 15 degrees of
the other talker in 50-90% of the overlapped blocks, while a single talker's blocks rarely
have one stronger than 0.05). ``OverlapFinder`` keeps the direction peaks of recent blocks
and, for a labelled stretch, says which other known talkers' places its peaks keep pointing
at: those get a second turn over the stretch, marked ``overlap``. ``places_between`` says where
each talker stood at a moment from where they were heard clearly just before and after it (the
diariser's look again after each refinement, when a walker's last place is stale).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from .units import wrap_deg


@dataclass
class OverlapConfig:
    min_strength: float = 0.1  # a peak weaker than this is not a talker (single talkers' second peaks: p90 0.03-0.08)
    gate_deg: float = 15.0  # a peak this close to a talker's place is theirs
    min_sep_deg: float = 30.0  # a second talker must stand at least this far from the main one
    min_blocks: int = 2  # blocks of a stretch that must point at the second talker
    share: float = 0.4  # ... and at least this share of the stretch's blocks


class OverlapFinder:
    """Direction peaks of recent blocks, and the second talkers a stretch's peaks point at."""

    def __init__(self, config: OverlapConfig | None = None, keep_s: float = 10.0) -> None:
        self.config = config or OverlapConfig()
        self.keep_s = keep_s
        self._blocks: deque[tuple[float, np.ndarray]] = deque()  # (block centre, azimuths of its peaks)

    def add(self, t: float, azimuth_deg: np.ndarray, strength: np.ndarray) -> None:
        """One direction block (call only for blocks loud enough to hold speech)."""
        keep = np.asarray(azimuth_deg, dtype=float)[np.asarray(strength) >= self.config.min_strength]
        self._blocks.append((t, keep))
        while self._blocks and self._blocks[0][0] < t - self.keep_s:
            self._blocks.popleft()

    @property
    def oldest(self) -> float | None:
        """Time of the oldest block still held (None: none yet): stretches before it can no longer be checked."""
        return self._blocks[0][0] if self._blocks else None

    def _span(self, t0: float, t1: float) -> list[np.ndarray]:
        return [az for t, az in self._blocks if t0 <= t <= t1]

    def two_heard(self, t0: float, t1: float) -> bool:
        """Whether any block over [t0, t1] has two peaks: without one, ``find`` finds nobody
        (a peak goes to one place), so callers can skip working out the talkers' places."""
        return any(len(az) >= 2 for az in self._span(t0, t1))

    def find(self, t0: float, t1: float, main: int, places: dict[int, float]) -> list[int]:
        """Talkers other than ``main`` whose place (azimuth, deg) the peaks over [t0, t1] point at.

        Each peak goes to the nearest place within ``gate_deg``; a block whose peaks went to
        ``main`` and to another talker heard both at once. A talker heard with ``main`` in
        enough of the stretch's blocks was speaking too. (Peaks at another talker's place
        alone say the main label may be wrong, not that two people spoke; a talker standing
        between two known places splits their peaks between them, one place per block.)
        """
        c = self.config
        if main not in places:
            return []
        # Talkers standing near the main one cannot be told from them by direction (and a talker
        # split into two labels has two places at one spot): only talkers well apart count.
        labels = [k for k in places if k == main or abs(wrap_deg(places[k] - places[main])) >= c.min_sep_deg]
        if len(labels) < 2:
            return []
        where = np.array([places[k] for k in labels])
        blocks = self._span(t0, t1)
        votes: dict[int, int] = {}
        for az in blocks:
            if not len(az):
                continue
            d = np.abs(wrap_deg(az[:, None] - where[None, :]))  # peaks x talkers
            nearest = d.argmin(axis=1)
            heard = {labels[j] for j, dist in zip(nearest, d[np.arange(len(az)), nearest]) if dist <= c.gate_deg}
            if main in heard:  # both at once in one block: two peaks, two places
                for k in heard - {main}:
                    votes[k] = votes.get(k, 0) + 1
        return sorted(k for k, v in votes.items() if v >= c.min_blocks and v >= c.share * len(blocks))


def places_between(t: float, within_s: float, heard: list[tuple[float, int, int, float]]) -> dict[int, tuple[float, int]]:
    """Where each talker stood at time ``t``, from where they were heard clearly around it.

    ``heard``: (time, label, stretch index, azimuth) of clearly located stretches, in time
    order. Per label, the nearest such stretch before ``t`` and after it, within
    ``within_s``: with both, the place is interpolated between them in time (a walker moves
    between the two); with one, it is that stretch's place. Returns label -> (azimuth, the
    nearer stretch's index: the anchor that names the talker).
    """
    before: dict[int, tuple[float, int, float]] = {}
    after: dict[int, tuple[float, int, float]] = {}
    for when, lab, k, az in heard:
        gap = abs(when - t)
        if gap > within_s:
            continue
        side = before if when <= t else after
        if lab not in side or gap < side[lab][0]:
            side[lab] = (gap, k, az)
    out: dict[int, tuple[float, int]] = {}
    for lab in before.keys() | after.keys():
        b, a = before.get(lab), after.get(lab)
        if b is not None and a is not None:
            f = b[0] / (b[0] + a[0]) if b[0] + a[0] > 0 else 0.0
            out[lab] = (float(wrap_deg(b[2] + f * wrap_deg(a[2] - b[2]))), b[1] if b[0] <= a[0] else a[1])
        else:
            g = b if b is not None else a
            assert g is not None
            out[lab] = (g[2], g[1])
    return out
