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
    duplicated: bool = False  # every channel carries the same samples
    copies: dict[int, int] = field(default_factory=dict)  # channel -> the earlier channel it copies
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
    is loud speech, which still localises); a channel is a *copy* when it carries the same
    samples as an earlier one, and the array is *duplicated* when all channels do. Decisions
    use hysteresis, so a channel does not flicker in and out.

    Silence is no evidence. Sameness is judged on one block per decision, and only on channels
    that carry signal in that block: digital silence (a stream that ends or pauses with zeros,
    a mute) or a level ``quiet_db`` below the array's running level says nothing either way,
    since silent channels are trivially "identical"; a pair where one channel is heard and the
    other is not is evidence that they differ. Likewise, while the whole array is silent the
    smoothed levels hold instead of decaying towards "every channel dead".
    """

    #: Below this mean square (about -100 dBFS, under one 16-bit step) a block is silent whatever the running level.
    SILENT = 1e-10

    def __init__(self, channels: int, rate: int, window_s: float = 0.5, dead_db: float = -40.0, clip_level: float = 0.99,
                 clip_fraction: float = 0.01, decide_s: float = 0.1, quiet_db: float = -50.0, level_decay_db_per_s: float = 1.0) -> None:
        self.channels = channels
        self.rate = rate
        self.window_s = window_s
        self.dead_db = dead_db
        self.clip_level = clip_level
        self.clip_fraction = clip_fraction
        self.decide_n = max(1, int(decide_s * rate))
        self.quiet = 10 ** (quiet_db / 10)
        self.level_decay = level_decay_db_per_s
        self.power = np.zeros(channels)
        self.clip = np.zeros(channels)
        # smoothed share of evidence blocks in which channels i < j carried the same samples
        self.same_pair = np.zeros((channels, channels))
        self.level = 0.0  # running level of the loudest channel: rises at once, decays by level_decay dB/s
        self.seen_s = 0.0
        self.bad = np.zeros(channels, dtype=bool)
        self.changed = False
        self.decided = False
        self.report = ChannelReport()
        # sums since the last decision (per-block work is kept to a few vector operations)
        self._sq = np.zeros(channels)
        self._clipped = np.zeros(channels)
        self._n = 0
        self._same_ev: np.ndarray | None = None  # (same, evidence) of the pairs in the sampled block

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
            self._same_ev = self._sameness(x)
        return self._decide()

    def _sameness(self, x: np.ndarray) -> np.ndarray:
        """For each channel pair (i, j): [same samples?, evidence?] in this block, shape (2, C, C)."""
        x = x[-1024:]  # a 64 ms sample at 16 kHz is evidence enough, and keeps the pairwise comparison cheap
        ms = np.einsum("ij,ij->j", x, x, dtype=np.float64) / len(x)
        heard = ms > max(self.SILENT, self.quiet * self.level)
        peak = np.max(np.abs(x), axis=0)
        diff = np.max(np.abs(x[:, :, None] - x[:, None, :]), axis=0)  # (C, C)
        same = diff <= 1e-7 * np.maximum(np.maximum(peak[:, None], peak[None, :]), 1e-12)
        evidence = heard[:, None] | heard[None, :]
        return np.stack([same & heard[:, None] & heard[None, :], evidence])

    @property
    def same(self) -> float:
        """How consistently all channels carried channel 0's samples (0-1)."""
        return float(np.min(self.same_pair[0, 1:])) if self.channels > 1 else 0.0

    def _decide(self) -> np.ndarray:
        self.decided = True
        n = self._n
        a = min(1.0, n / (self.window_s * self.rate))
        ms = self._sq / n
        if float(ms.max()) > max(1e-13, self.quiet * self.level):
            self.power += a * (ms - self.power)
            self.clip += a * (self._clipped / n - self.clip)
        # else: the whole array is silent (a stream's zero tail, a pause, a mute): no evidence of anything,
        # so the levels hold instead of decaying until every channel looks dead or the quietest ones do
        if self._same_ev is not None:
            same, ev = self._same_ev
            self.same_pair[ev] += a * (same[ev] - self.same_pair[ev])  # pairs without evidence keep their score
            self._same_ev = None
        self.level = max(float(self.power.max()), self.level * 10 ** (-self.level_decay * n / self.rate / 10))
        self._sq[:] = 0.0
        self._clipped[:] = 0.0
        self._n = 0
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
        if self.same > 0.9 and not self.report.duplicated:
            self.report.duplicated = True
        if self.report.duplicated and self.same > 0.5:
            self.bad = np.ones(self.channels, dtype=bool)
            self.bad[0] = False
        elif self.channels > 2:
            self._copies()
        self.changed = bool(np.any(was != self.bad))
        return self.bad

    def _copies(self) -> None:
        """Leave out channels that repeat an earlier channel (a wiring or driver fault), keeping the first of each group."""
        for j in range(1, self.channels):
            i = next((i for i in range(j) if self.same_pair[i, j] > 0.9 and i not in self.report.copies), None)
            if i is not None and j not in self.report.copies:
                self.report.copies[j] = i
            k = self.report.copies.get(j)
            if k is not None and self.same_pair[k, j] > 0.5:
                self.bad[j] = True
