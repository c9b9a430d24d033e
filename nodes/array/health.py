"""Per-channel checks of a microphone array's signals: DC offset, dead, clipped or duplicated channels.

Real arrays fail in a few typical ways: a mic or its cable dies (the channel goes silent), a
preamp is overdriven (one channel clips while the others do not), a converter has a DC offset,
or the "array" recording is really one signal copied to every channel. Direction finding
compares the channels' phases, so one broken channel spoils every estimate. This module finds
such channels in a stream, block by block, so the array node can drop them (zero them: the
direction finder leaves silent channels out) and say so once, instead of silently producing
wrong directions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ChannelReport:
    """What the checker concluded about the channels so far (for messages and tests)."""

    dead: set[int] = field(default_factory=set)
    clipped: set[int] = field(default_factory=set)
    duplicated: bool = False
    dc_offset: dict[int, float] = field(default_factory=dict)


class DcBlocker:
    """First-order DC-removal filter ``y[n] = x[n] - x[n-1] + r y[n-1]``, streaming, per channel.

    With ``r = 1 - 2 pi fc / rate`` the -3 dB point is at ``fc`` (a few tens of Hz): far below
    the speech band used for direction finding, so phases there are untouched.
    """

    def __init__(self, channels: int, rate: int, cutoff_hz: float = 20.0) -> None:
        from scipy.signal import lfilter  # scipy.signal takes a second to import: only when audio flows

        self._lfilter = lfilter
        r = 1.0 - 2.0 * np.pi * cutoff_hz / rate
        self.b = np.array([1.0, -1.0])
        self.a = np.array([1.0, -r])
        self.zi: np.ndarray | None = None
        self.channels = channels

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.zi is None:
            # Start in the steady state of the first sample, so a DC offset does not ring:
            # for this filter the steady-state state for a constant input c is -c.
            self.zi = -x[:1, :].astype(np.float64)
        y, self.zi = self._lfilter(self.b, self.a, x, axis=0, zi=self.zi)
        return y.astype(np.float32, copy=False)


class ChannelHealth:
    """Streaming detector of dead, clipped and duplicated channels.

    Levels are smoothed over about ``window_s`` seconds. A channel is *dead* when its level is
    ``dead_db`` below the median channel while the median itself carries signal (or when it is
    digitally silent); *clipped* when it sits at full scale in ``clip_fraction`` of its samples
    while the median channel does so at most a tenth as often (all channels clipping together
    is loud speech, which still localises); the channels are *duplicates* when all of them
    carry the same samples. Decisions use hysteresis, so a channel does not flicker in and out.
    """

    def __init__(self, channels: int, rate: int, window_s: float = 0.5, dead_db: float = -40.0, clip_level: float = 0.99,
                 clip_fraction: float = 0.01, decide_s: float = 0.1) -> None:
        self.channels = channels
        self.rate = rate
        self.window_s = window_s
        self.dead_db = dead_db
        self.clip_level = clip_level
        self.clip_fraction = clip_fraction
        self.decide_n = max(1, int(decide_s * rate))
        self.power = np.zeros(channels)
        self.clip = np.zeros(channels)
        self.same = 0.0
        self.seen_s = 0.0
        self.bad = np.zeros(channels, dtype=bool)
        self.changed = False
        self.decided = False
        self.report = ChannelReport()
        # sums since the last decision (per-block work is kept to a few vector operations)
        self._sq = np.zeros(channels)
        self._clipped = np.zeros(channels)
        self._n = 0
        self._same_blocks = 0
        self._blocks = 0

    def update(self, raw: np.ndarray, clean: np.ndarray | None = None) -> np.ndarray:
        """Feed one block (frames, channels); return the mask of channels to drop now.

        ``raw`` is what the converter delivered (clipping shows there); ``clean`` the same
        block with DC removed (levels are measured there, so a dead channel with an offset
        still reads as dead). Decisions are taken every ``decide_s`` of audio.
        """
        x = raw if clean is None else clean
        n = len(x)
        self.changed = False
        self.decided = False
        if n == 0:
            return self.bad
        self._sq += np.einsum("ij,ij->j", x, x, dtype=np.float64)
        if float(np.max(np.abs(raw))) >= self.clip_level:
            self._clipped += np.count_nonzero(np.abs(raw) >= self.clip_level, axis=0)
        self._n += n
        if self._n < self.decide_n:
            return self.bad
        if self.channels > 1:
            peak = float(np.max(np.abs(x)))
            self._same_blocks += int(float(np.max(np.abs(x - x[:, :1]))) <= 1e-7 * max(peak, 1e-12))
            self._blocks += 1
        return self._decide()

    def _decide(self) -> np.ndarray:
        self.decided = True
        n = self._n
        a = min(1.0, n / (self.window_s * self.rate))
        self.power += a * (self._sq / n - self.power)
        self.clip += a * (self._clipped / n - self.clip)
        if self._blocks:
            self.same += a * (self._same_blocks / self._blocks - self.same)
        self._sq[:] = 0.0
        self._clipped[:] = 0.0
        self._n = self._same_blocks = self._blocks = 0
        self.seen_s += n / self.rate
        if self.seen_s < 0.25 * self.window_s:
            return self.bad
        order = np.sort(self.power)
        med = float(order[len(order) // 2])
        floor = med * 10 ** (self.dead_db / 10)
        silent = self.power < 1e-13  # digital silence: about -130 dBFS
        if med > 1e-10:
            dead = (self.power < floor) | silent
            alive = self.power > med * 10 ** (self.dead_db / 20)  # back within half the margin
        else:  # the whole array is quiet: only digitally silent channels are suspects
            dead = silent & (order[-1] > 1e-13)
            alive = ~silent
        med_clip = float(np.sort(self.clip)[len(self.clip) // 2])
        clipped = (self.clip > self.clip_fraction) & (self.clip > 10 * med_clip + 1e-9)
        unclipped = self.clip < 0.5 * self.clip_fraction
        was = self.bad.copy()
        self.bad = (self.bad & ~(alive & unclipped)) | dead | clipped
        for c in np.flatnonzero(dead):
            self.report.dead.add(int(c))
        for c in np.flatnonzero(clipped):
            self.report.clipped.add(int(c))
        if self.same > 0.9 and not self.report.duplicated and order[-1] > 1e-10:
            self.report.duplicated = True
        if self.report.duplicated and self.same > 0.5:
            self.bad = np.ones(self.channels, dtype=bool)
            self.bad[0] = False
        self.changed = bool(np.any(was != self.bad))
        return self.bad
