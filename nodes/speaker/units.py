"""What the diarisers label: short stretches of speech, each with an embedding and maybe a direction."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import overload

import numpy as np


@dataclass(slots=True)
class Unit:
    """One stretch ``[t0, t1]`` of speech to label (a window's new part) and its evidence.

    ``vector`` is the speaker embedding of the window ending at ``t1`` (it reaches back to
    ``window_start``); ``azimuth_deg``/``azimuth_std`` the talker's direction over the stretch
    when an array heard one (None for mono input or when no clear direction was found);
    ``segment`` the speech segment it belongs to; ``pitch`` the window's median log2
    fundamental frequency (None: too little voiced speech, or not measured) over ``voiced_s``
    seconds of voiced frames; ``timbre`` the new stretch's cepstral statistics (``timbre.py``);
    ``blocks`` the direction blocks behind ``azimuth_deg`` (a stretch across a change of talker
    is heard in two places, block by block, and its mean lies between them).
    """

    index: int
    t0: float
    t1: float
    vector: np.ndarray
    window_start: float
    segment: str | None = None
    azimuth_deg: float | None = None
    azimuth_std: float | None = None
    pitch: float | None = None
    voiced_s: float = 0.0
    voice_cut: bool = False  # a refinement pass heard the voice change at this stretch (``ahc_runs.remembered_voice_cuts``)
    timbre: np.ndarray | None = None  # the stretch's cepstral statistics under the timbre background model (``timbre.py``)
    blocks: np.ndarray | None = None  # (time s, azimuth deg, weight) of the direction blocks it was located from, one row each
    relocated: bool = False  # a refinement pass located it again by the blocks heard away from the rest of its segment (``ahc_runs.onsets_heard_elsewhere``)
    placed: bool = False  # this refinement pass's ``ahc_runs.follow_straddlers`` gave it the side its direction blocks hold

    @property
    def window_s(self) -> float:
        return self.t1 - self.window_start

    @property
    def pitch_weight(self) -> float:
        """Seconds of voiced speech this stretch's pitch stands for, each counted once: its window's voiced
        seconds times the share of the window that is new (windows overlap, so a second of speech is heard
        by several of them)."""
        if self.pitch is None or self.window_s <= 0:
            return 0.0
        return self.voiced_s * min(1.0, (self.t1 - self.t0) / self.window_s)

    @property
    def place(self) -> float:
        """``azimuth_deg`` of a stretch known to have one (a caller that checked it was located: a
        ``None`` here is a bug, not missing data)."""
        assert self.azimuth_deg is not None, f"stretch {self.index} at {self.t0:.2f} s has no direction"
        return self.azimuth_deg

    def heard_in_one_place(self, max_std_deg: float) -> bool:
        """Whether the stretch has a direction spread at most ``max_std_deg``: a stretch heard under two talkers, or
        across a change of talker, spreads between their places, and its mean is no one's place."""
        return self.azimuth_deg is not None and (self.azimuth_std or 0.0) <= max_std_deg


@overload
def wrap_deg(d: float) -> float: ...
@overload
def wrap_deg(d: np.ndarray) -> np.ndarray: ...
def wrap_deg(d: float | np.ndarray) -> float | np.ndarray:
    """An angle difference brought into [-180, 180)."""
    return (np.asarray(d) + 180.0) % 360.0 - 180.0 if isinstance(d, np.ndarray) else (d + 180.0) % 360.0 - 180.0


def unit_vector(v: np.ndarray) -> np.ndarray:
    """``v`` scaled to length 1 (an embedding, or a sum of them, for cosines)."""
    return v / max(float(np.linalg.norm(v)), 1e-12)


def normal_logpdf(d: float | np.ndarray, var: float | np.ndarray) -> float | np.ndarray:
    return -0.5 * (np.square(d) / var + np.log(2 * math.pi * var))


def log_mix(log_a: float | np.ndarray, log_b: float | np.ndarray, share_b: float | np.ndarray) -> float | np.ndarray:
    """log((1 - share_b) exp(log_a) + share_b exp(log_b)), without overflow: a two-part mixture's log density."""
    top = np.maximum(log_a, log_b)
    return top + np.log((1 - share_b) * np.exp(log_a - top) + share_b * np.exp(log_b - top))


def direction_var(azimuth_std: float | None, floor_deg: float) -> float:
    """Variance (deg^2) of one stretch's direction: its own spread, but never below ``floor_deg``
    (a few blocks agreeing closely still leave reflections and the array's resolution)."""
    return max(floor_deg, azimuth_std or 0.0) ** 2


#: Log density of a direction about which nothing is known (uniform over the circle, per degree).
LOG_UNIFORM_DEG = -math.log(360.0)


def circular_mean(az_deg: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """Weighted circular mean of directions and the spread (deg) of the mean's estimate."""
    r = np.deg2rad(az_deg)
    c, s = float(np.sum(weights * np.cos(r))), float(np.sum(weights * np.sin(r)))
    total = float(np.sum(weights))
    mean = math.degrees(math.atan2(s, c))
    resultant = math.hypot(c, s) / max(total, 1e-12)
    spread = math.degrees(math.sqrt(max(-2.0 * math.log(max(resultant, 1e-6)), 0.0)))
    return mean, spread


def direction_of_blocks(az_deg: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """A stretch's direction from the direction blocks heard over it: their weighted circular mean, and its spread
    (the blocks' spread over the square root of their number, plus a floor of 2 deg). The diariser locates every
    stretch so, and refinement an opening stretch again by the blocks it heard away from the rest of its segment
    (``ahc_runs.onsets_heard_elsewhere``): one rule for both."""
    mean, spread = circular_mean(az_deg, weights)
    return mean, spread / math.sqrt(len(az_deg)) + 2.0
