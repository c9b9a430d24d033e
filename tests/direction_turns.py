"""Random direction sequences for the Kalman-AHC filter tests: turns of 0.5 s directions, some walking, some across the seam."""

from __future__ import annotations

import numpy as np


def random_turns(rng: np.random.Generator, n_turns: int) -> list[tuple[float, float, float]]:
    """``n_turns`` turns at random places and times in two minutes, each of 1-24 directions (time, azimuth, variance)
    every 0.5 s walking a few degrees at random (so some cross the +-180 deg seam), sorted by time."""
    obs = []
    for _ in range(n_turns):
        t, az = float(rng.uniform(0, 120)), float(rng.uniform(-180, 180))
        for _ in range(int(rng.integers(1, 25))):
            obs.append((round(t * 2) / 2, float((az + 180) % 360 - 180), float(rng.uniform(8, 30)) ** 2))
            t, az = t + 0.5, az + float(rng.normal(0, 6))
    return sorted(obs, key=lambda o: o[0])
