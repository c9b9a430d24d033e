"""Lost audio and clock drift of a capture device, found by comparing it with the wall clock.

Some audio stacks never say that they dropped input: PulseAudio, seen through ALSA's
``pulse`` plugin, loses frames silently when a client falls behind by more than its
server-side buffer (measured: no ``input overflow`` flag, 80% of frames gone). The only
reliable witness is the wall clock: a device that runs at ``rate`` frames per second has
delivered about ``rate * elapsed`` frames; when fewer arrived and the shortfall does not
come back, frames were lost.

The shortfall ("lag") of a healthy stream jitters by a buffer or two, and grows slowly
when the device's crystal runs slower than the computer's clock (drift, typically tens of
parts per million). A loss is a step up in the lag that persists. So:

* the *baseline* lag is learned, after ``settle_s`` (start-up bursts), from the lower
  envelope of the lag (buffers that arrived promptly) and then follows the drift fitted by
  least squares over one-second minima;
* a lag that stays more than ``tolerance_s`` above the baseline for ``confirm_s`` of wall
  time is a loss of the smallest excess seen during that time: a stall whose audio was
  only held up (the process was paused, the machine was busy) drains in a burst well
  within ``confirm_s`` and is not a loss;
* lost frames are reported to the caller, which fills them with silence so that media
  time keeps pace with the meeting (and a recording replays with the same time line).

Pure arithmetic in constant memory, usable without the engine; called from the audio
callback, so it must stay cheap (a few float operations per buffer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class _Fit:
    """Running least squares of y on x (constant memory)."""

    n: int = 0
    sx: float = 0.0
    sy: float = 0.0
    sxx: float = 0.0
    sxy: float = 0.0

    def add(self, x: float, y: float) -> None:
        self.n += 1
        self.sx += x
        self.sy += y
        self.sxx += x * x
        self.sxy += x * y

    def slope(self) -> float | None:
        if self.n < 3:
            return None
        den = self.n * self.sxx - self.sx * self.sx
        if den <= 0:
            return None
        return (self.n * self.sxy - self.sx * self.sy) / den

    def line(self) -> tuple[float, float] | None:
        s = self.slope()
        if s is None:
            return None
        return s, (self.sy - s * self.sx) / self.n


class CaptureClock:
    """Watches (wall time, frames delivered) pairs; reports losses and drift.

    ``observe(wall, frames)`` is called once per device buffer with a monotonic wall time
    (seconds) and the number of frames in that buffer; it returns how many frames it has
    just concluded were lost (usually 0).
    """

    def __init__(self, rate: float, tolerance_s: float = 0.1, confirm_s: float = 1.0, settle_s: float = 0.3, min_fit_s: float = 20.0) -> None:
        self.rate = float(rate)
        self.tol = tolerance_s * rate
        self.confirm_s = confirm_s
        self.settle_s = settle_s
        self.min_fit_s = min_fit_s
        self.start: float | None = None
        self.frames = 0  # delivered by the device
        self.lost = 0  # declared lost (filled)
        self.events = 0
        self.last_wall = 0.0
        self.max_gap_s = 0.0  # longest wait between two buffers
        self._base: float | None = None  # baseline lag at x = settle (frames)
        self._fit = _Fit()
        self._bucket = -1
        self._bucket_min = math.inf
        self._bucket_bad = False
        self._high_since: float | None = None
        self._high_min = math.inf

    # -- the model ---------------------------------------------------------------------------------
    def _lag(self, x: float) -> float:
        """Frames that should have arrived by ``x`` seconds but did not (losses filled)."""
        return self.rate * x - (self.frames + self.lost)

    def baseline(self, x: float) -> float:
        """The healthy stream's lag at ``x``: learned level plus fitted drift."""
        assert self._base is not None
        line = self._fit.line() if self._fit_ready() else None
        if line is None:
            return self._base
        slope, icpt = line
        return icpt + slope * x

    def _fit_ready(self) -> bool:
        return self._fit.n >= 3 and self._bucket >= self.min_fit_s

    def _close_bucket(self) -> None:
        if self._bucket >= 0 and not self._bucket_bad and math.isfinite(self._bucket_min):
            x = self._bucket + 0.5
            if self._base is None or not self._fit_ready() or abs(self._bucket_min - self.baseline(x)) <= self.tol:
                self._fit.add(x, self._bucket_min)

    # -- input -----------------------------------------------------------------------------------------
    def observe(self, wall: float, frames: int) -> int:
        if self.start is None:
            # The first buffer holds audio captured before it arrived: count time from
            # its first frame.
            self.start = wall - frames / self.rate
            self.last_wall = wall
        gap = wall - self.last_wall
        if gap > self.max_gap_s:
            self.max_gap_s = gap
        self.last_wall = wall
        self.frames += frames
        x = wall - self.start
        lag = self._lag(x)
        if x < self.settle_s:
            # Start-up: streams often deliver a pre-filled buffer in a burst, which offsets
            # the lag once; the baseline is learned after it.
            return 0
        if self._base is None:
            self._base = lag
        bucket = int(x)
        if bucket != self._bucket:
            self._close_bucket()
            self._bucket, self._bucket_min, self._bucket_bad = bucket, math.inf, False
        excess = lag - self.baseline(x)
        if excess < 0 and not self._fit_ready():
            self._base += excess  # the lower envelope: the stream is never earlier than this
            excess = 0.0
        if excess <= self.tol:
            self._high_since, self._high_min = None, math.inf
            if lag < self._bucket_min:
                self._bucket_min = lag
            return 0
        self._bucket_bad = True
        if self._high_since is None:
            self._high_since = wall
        if excess < self._high_min:
            self._high_min = excess
        if wall - self._high_since < self.confirm_s:
            return 0
        lost = int(round(self._high_min))
        self._high_since, self._high_min = None, math.inf
        if lost <= 0:
            return 0
        self.lost += lost
        self.events += 1
        return lost

    # -- results -----------------------------------------------------------------------------------------
    @property
    def elapsed_s(self) -> float:
        return 0.0 if self.start is None else self.last_wall - self.start

    def drift_ppm(self) -> float | None:
        """Device clock against the wall clock, in parts per million (+ = device fast).

        None until ``min_fit_s`` of stream has been seen: a shorter fit is dominated by
        buffer jitter (1 ms of jitter over 20 s reads as 50 ppm).
        """
        if not self._fit_ready():
            return None
        slope = self._fit.slope()
        if slope is None:
            return None
        # lag = rate * x * (1 - device_rate / rate) + const  =>  slope = -rate * drift
        return -slope / self.rate * 1e6

    def summary(self) -> dict[str, float | int | None]:
        drift = self.drift_ppm()
        return {
            "frames": self.frames,
            "wall_s": round(self.elapsed_s, 3),
            "lost_frames": self.lost,
            "lost_s": round(self.lost / self.rate, 3),
            "overflows": self.events,
            "drift_ppm": None if drift is None else round(drift, 1),
            "max_gap_s": round(self.max_gap_s, 3),
        }
