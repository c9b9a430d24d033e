"""Media time: exact stream positions from integer counters, and its link to the wall clock.

Every packet carries ``t0 <= t1`` in seconds of media time, computed at its source as
``n / rate`` from an integer sample (or frame) counter, never accumulated from floats.

Why plain floats are exact enough to join streams of different rates: IEEE division is
correctly rounded, so two counters that denote the same instant (``1600 / 16000`` and
``1 / 10``) give the *same* float, and two different instants differ by at least
``1 / (rate_a * rate_b)`` (about 1e-9 s for 16 kHz against 48 kHz), which is far above the
float spacing for any media time under a few days. Comparisons of ``t0`` across streams are
therefore exact, and a node can join direction estimates every 100 ms with per-segment
embeddings without tolerances. Code must never build a time by summing durations.
"""

from __future__ import annotations

import bisect
import time
from collections import deque


def media_time(count: int, rate: float) -> float:
    """Seconds of media time of sample (or frame) ``count`` at ``rate`` per second."""
    return count / rate


def samples_at(t: float, rate: float) -> int:
    """The sample index at media time ``t`` (rounded to the nearest sample)."""
    return int(round(t * rate))


class IngestClock:
    """Maps media time to the wall-clock time at which that audio entered the graph.

    Latency figures need, for any media time, the wall time its samples were captured (live)
    or would have been captured by a real-time player (replay). Sources call ``mark`` as they
    emit; sinks call ``wall_at``. In replay without pacing the clock is virtual: the audio is
    taken to arrive in real time from the start of the run, so latency reads as the lag
    behind a real-time clock (negative when faster than real time).

    Memory is bounded: only the most recent ``horizon_s`` seconds of marks are kept.
    """

    def __init__(self, horizon_s: float = 600.0) -> None:
        self.start_wall = time.time()
        self.virtual = True
        self._horizon = horizon_s
        self._t: deque[float] = deque()
        self._wall: deque[float] = deque()

    def start(self, wall: float | None = None) -> None:
        """Set the wall time at which media time 0 entered (the start of the run)."""
        self.start_wall = time.time() if wall is None else wall

    def mark(self, t: float, wall: float) -> None:
        """Record that media time ``t`` (the end of a block) entered the graph at ``wall``."""
        self.virtual = False
        if self._t and t <= self._t[-1]:
            return
        self._t.append(t)
        self._wall.append(wall)
        while self._t and t - self._t[0] > self._horizon:
            self._t.popleft()
            self._wall.popleft()

    def wall_at(self, t: float) -> float:
        """Wall time at which the sample at media time ``t`` entered the graph."""
        if self.virtual or not self._t:
            return self.start_wall + t
        ts = self._t
        i = bisect.bisect_left(ts, t)
        if i >= len(ts):
            return self._wall[-1] + (t - ts[-1])
        # The block ending at ts[i] contains t; it entered when that block was complete.
        return self._wall[i]
