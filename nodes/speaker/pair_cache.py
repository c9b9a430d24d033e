"""Location scores of cluster pairs, and each cluster's direction filters, kept from one refinement pass to the next.

Each refinement pass re-clusters the whole horizon from its runs, every few seconds of media:
over an 11-minute meeting the 127 passes scored 1.8 million pairs of clusters by their
Kalman tracks (``direction_track.merged_loglik``), about 80% of the diariser's time, and the slowest
pass took up to 1.7 s with the diariser's input waiting. Most of those pairs were scored in the pass
before too: the runs of the meeting's first minutes, and the clusters their first merges build,
are the same from pass to pass; only the embedding space (centred, principal axes) moves as
the horizon fills, and it does not enter the location score. A pair's location score depends
only on the two clusters' directions (time, azimuth, variance, in time order) and on the
filters' constants, so it is kept under exactly those: a cluster is named by the tuple of its
directions (``key``), a score by the two names in the order scored (``merged_loglik`` hands a
tie in time to its first argument), and everything is dropped when the constants change.

Entries live for two passes (generations): what a pass used or made is kept for the next; what
two passes running did not touch is dropped, so the cache holds about two passes' pairs however
long the meeting.

Each pass also starts from a matrix of every pair of its runs (a few hundred runs once the horizon
is full: tens of thousands of pairs), nearly all of them runs of the pass before. Looking each pair
up one by one (a call and two dictionary lookups a pair, two million over an 11-minute meeting)
was a good part of refinement's time, so the last pass's matrix is kept whole (``last_matrix``,
``keep_matrix``) and only the rows of new runs are scored (or looked up) pair by pair.

A sequence's direction filters (``direction_track.Track``, walking and seated) depend on the
same things as its scores, so they are kept under its name too (``tracks``, ``keep_tracks``):
the runs of a pass, and most clusters its merges build, were built in the pass before, and
building them again (a filter walked over every direction of the cluster) was 8.6% of the
diariser's time over the hour-long simulated meeting (tools/diarization_notes.md, thirty-fifth
session).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np


class PairCache:
    """Scores of ordered pairs of direction sequences, each sequence interned as a small integer."""

    def __init__(self) -> None:
        self._ids: dict[tuple[tuple[float, float, float], ...], int] = {}  # this pass's sequences
        self._old_ids: dict[tuple[tuple[float, float, float], ...], int] = {}  # the pass before's
        self._now: dict[tuple[int, int], float] = {}
        self._old: dict[tuple[int, int], float] = {}
        self._tracks: dict[int, Any] = {}  # this pass's direction filters, by sequence name (``tracks``)
        self._old_tracks: dict[int, Any] = {}  # ... the pass before's
        self._next = 0
        self._signature: Hashable = None
        self._matrix = np.zeros((0, 0))  # the last pass's scores of every pair of its runs ...
        self._rows: dict[int, int] = {}  # ... with each run's name -> its row

    def new_pass(self, signature: Hashable) -> None:
        """Start a pass scored under ``signature`` (the constants the scores depend on besides the directions)."""
        if signature != self._signature:
            self._ids, self._old_ids, self._now, self._old = {}, {}, {}, {}
            self._tracks, self._old_tracks = {}, {}
            self._matrix, self._rows = np.zeros((0, 0)), {}
            self._signature = signature
            return
        self._old_ids, self._ids = self._ids, {}
        self._old, self._now = self._now, {}
        self._old_tracks, self._tracks = self._tracks, {}

    def key(self, obs: Sequence[tuple[float, float, float]]) -> int:
        """The name of a direction sequence: equal sequences get equal names, for as long as they are in use."""
        seq = tuple(obs)
        name = self._ids.get(seq)
        if name is None:
            name = self._old_ids.pop(seq, None)
            if name is None:
                name = self._next
                self._next += 1
            self._ids[seq] = name
        return name

    def tracks(self, name: int) -> Any:
        """What ``keep_tracks`` kept for the sequence ``name`` this pass or the one before, else None."""
        found = self._tracks.get(name)
        if found is None:
            found = self._old_tracks.pop(name, None)
            if found is not None:
                self._tracks[name] = found
        return found

    def keep_tracks(self, name: int, tracks: Any) -> None:
        """Keep a sequence's direction filters (``direction_track.Track``: built from the directions and the
        constants alone, never changed after) for as long as its name is in use."""
        self._tracks[name] = tracks

    def get(self, a: int, b: int) -> float | None:
        """The score of the pair (a, b) when it was scored this pass or the one before, else None."""
        pair = (a, b)
        score = self._now.get(pair)
        if score is None:
            score = self._old.get(pair)
            if score is not None:
                self._now[pair] = score
        return score

    def put(self, a: int, b: int, score: float) -> None:
        self._now[(a, b)] = score

    def last_matrix(self, keys: Sequence[int]) -> tuple[np.ndarray, list[int]]:
        """The scores of every pair of ``keys`` the last kept matrix holds, and the positions it does not hold.

        A position is left to the caller (returned) when its name is -1 (not cached) or new or
        appears twice; the scores among the others are copied, but only when they come in the
        order they had then, since a pair is scored in order (see the module docstring).
        """
        n = len(keys)
        matrix = np.zeros((n, n))
        counts = Counter(keys)
        found = [p for p, k in enumerate(keys) if k >= 0 and counts[k] == 1 and k in self._rows]
        rows = np.array([self._rows[keys[p]] for p in found], dtype=int)
        if len(rows) > 1 and not bool(np.all(np.diff(rows) > 0)):
            found, rows = [], rows[:0]
        if found:
            at = np.array(found)
            matrix[np.ix_(at, at)] = self._matrix[np.ix_(rows, rows)]
        held = set(found)
        return matrix, [p for p in range(n) if p not in held]

    def keep_matrix(self, keys: Sequence[int], matrix: np.ndarray) -> None:
        """Keep ``matrix`` (the scores of every pair of ``keys``) for the next pass's ``last_matrix``."""
        self._matrix = matrix.copy()
        self._rows = {k: p for p, k in enumerate(keys) if k >= 0}

    def __len__(self) -> int:
        return len(self._now) + len(self._old)
