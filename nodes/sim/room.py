"""Room acoustics for simulated meetings: impulse responses of static and walking talkers (pyroomacoustics).

Static talkers get the full image-source impulse response of a shoebox room whose wall
absorption gives the requested RT60 (Sabine, ``pyroomacoustics.inverse_sabine``).

A walking talker's impulse response changes as they move. The exact image-source response
costs about a second per position on 2 cores (thousands of images for RT60 0.5 s), far too
much at the ten positions per second a walk needs. So the response is split at the room's
mixing time: the direct sound and early reflections (image order <= ``early_order``, exact up
to ``mix_ms``), which carry the direction, are computed at every position; the late diffuse
tail, which carries little direction and changes little along a walk, is taken from the full
response at one reference position of the walk. Positions are sampled every ``step_s`` and
the speech is cross-faded between consecutive responses (linear "hat" windows that sum to
one), the usual way of rendering time-varying impulse responses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


class RoomError(ValueError):
    """A room that cannot be simulated (RT60 impossible for its size, talker outside, ...)."""


@dataclass
class RoomSpec:
    size: tuple[float, float, float]
    rt60: float
    rate: int = 16000

    def absorption(self) -> tuple[float, int]:
        """Wall energy absorption and the image order the full response needs."""
        import pyroomacoustics as pra

        try:
            e_abs, max_order = pra.inverse_sabine(self.rt60, list(self.size))
        except ValueError as exc:
            raise RoomError(f"RT60 {self.rt60} s is not possible in a {self.size} m room ({exc})") from None
        return float(e_abs), int(max_order)

    def inside(self, p: Sequence[float], margin: float = 0.05) -> bool:
        return all(margin <= p[i] <= self.size[i] - margin for i in range(3))


def _room(spec: RoomSpec, mics_xyz: np.ndarray, max_order: int | None = None):  # noqa: ANN202 - pyroomacoustics type
    import pyroomacoustics as pra

    e_abs, full_order = spec.absorption()
    room = pra.ShoeBox(list(spec.size), fs=spec.rate, materials=pra.Material(e_abs), max_order=full_order if max_order is None else max_order)
    room.add_microphone_array(np.asarray(mics_xyz, dtype=np.float64).T)
    return room


def impulse_responses(spec: RoomSpec, mics_xyz: np.ndarray, positions: Sequence[Sequence[float]], max_order: int | None = None) -> list[np.ndarray]:
    """Impulse responses (mics, taps) from each position to every mic; full image order by default."""
    if len(positions) == 0:
        return []
    for p in positions:
        if not spec.inside(p):
            raise RoomError(f"source position {list(np.round(p, 3))} is outside the {spec.size} m room")
    room = _room(spec, mics_xyz, max_order)
    for p in positions:
        room.add_source(list(map(float, p)))
    room.compute_rir()
    M = len(mics_xyz)
    out = []
    for s in range(len(positions)):
        taps = max(len(room.rir[m][s]) for m in range(M))
        h = np.zeros((M, taps), dtype=np.float64)
        for m in range(M):
            r = np.asarray(room.rir[m][s])
            h[m, : len(r)] = r
        out.append(h)
    return out


#: Samples of dry speech convolved at a time (about 65 s at 16 kHz): scipy's overlap-add holds every
#: block's spectrum for every mic at once, four whole-length copies of the recording (16 GB for an
#: hour at 7 mics, where this keeps it to a few hundred MB).
CONVOLVE_CHUNK = 1 << 20


def add_at(out: np.ndarray, y: np.ndarray, start: int) -> None:
    """Add ``y`` (mics, samples) into ``out`` (mics, length) from sample ``start`` on, in place; what runs past the end is dropped."""
    end = min(out.shape[1], start + y.shape[1])
    if end > start:
        out[:, start:end] += y[:, : end - start]


def add_convolved(out: np.ndarray, dry: np.ndarray, h: np.ndarray, chunk: int = CONVOLVE_CHUNK) -> None:
    """Add mono ``dry`` convolved with every mic's response ``h`` (mics, taps) into ``out`` (mics, length), in place.

    Chunk by chunk, each chunk's tail added where it falls; chunks of silence are skipped (a
    talker is silent most of a meeting).
    """
    from scipy.signal import oaconvolve

    length = out.shape[1]
    for c0 in range(0, min(len(dry), length), chunk):
        x = dry[c0 : c0 + chunk]
        if not np.any(x):
            continue
        add_at(out, oaconvolve(x[None, :].astype(np.float64), h, axes=1), c0)


def convolve(dry: np.ndarray, h: np.ndarray, length: int) -> np.ndarray:
    """Convolve mono ``dry`` with every mic's response; (mics, length) float64."""
    out = np.zeros((h.shape[0], length), dtype=np.float64)
    add_convolved(out, dry, h)
    return out


@dataclass
class MovingSource:
    """Renders speech from a talker who moves: time-varying responses with cross-fades."""

    spec: RoomSpec
    mics_xyz: np.ndarray
    step_s: float = 0.1
    early_order: int = 12
    mix_ms: float = 30.0
    fade_ms: float = 5.0

    def render(self, dry: np.ndarray, start: int, position_at: Callable[[float], Sequence[float]], length: int) -> np.ndarray:
        """Reverberant image (mics, length) of ``dry`` placed at sample ``start``.

        ``position_at(t)`` gives the talker's position at media time ``t`` (seconds).
        """
        placed = np.zeros((len(self.mics_xyz), length), dtype=np.float64)
        add_at(placed, self.image(dry, start, position_at), start)
        return placed

    def image(self, dry: np.ndarray, start: int, position_at: Callable[[float], Sequence[float]]) -> np.ndarray:
        """The reverberant image of ``dry`` heard from sample ``start`` on: (mics, samples of the utterance and its tail).

        What ``render`` places into a whole recording; a caller that adds many utterances to one
        recording adds this slice instead (an hour's recording is 3 GB a copy at 7 mics).
        """
        rate = self.spec.rate
        step = max(1, int(round(self.step_s * rate)))
        n = len(dry)
        # Hat windows centred every `step` samples, covering the utterance; they sum to one.
        centres = np.arange(0, int(np.ceil(max(n - 1, 0) / step)) + 1) * step
        times = (start + centres) / rate
        positions = [position_at(float(t)) for t in times]
        ref = position_at((start + n / 2) / rate)
        full = impulse_responses(self.spec, self.mics_xyz, [ref])[0]
        early = impulse_responses(self.spec, self.mics_xyz, positions, max_order=self.early_order)
        mix = int(self.mix_ms * rate / 1000)
        fade = max(1, int(self.fade_ms * rate / 1000))
        taps = max(full.shape[1], max(h.shape[1] for h in early))
        w_early = np.clip((mix + fade - np.arange(taps)) / fade, 0.0, 1.0)  # 1 up to the mixing time, then a ramp
        late = np.pad(full, ((0, 0), (0, taps - full.shape[1]))) * (1.0 - w_early)[None, :]
        M = len(self.mics_xyz)
        out = np.zeros((M, n + taps + step), dtype=np.float64)
        from scipy.signal import oaconvolve

        idx = np.arange(n)
        for c, h in zip(centres, early):
            lo, hi = max(0, int(c) - step), min(n, int(c) + step)
            if hi <= lo:
                continue
            w = 1.0 - np.abs(idx[lo:hi] - c) / step
            seg = dry[lo:hi] * w
            he = h[:, : min(h.shape[1], mix + fade)] * w_early[: min(h.shape[1], mix + fade)][None, :]
            y = oaconvolve(seg[None, :], he, axes=1)
            out[:, lo : lo + y.shape[1]] += y
        y = oaconvolve(dry[None, :].astype(np.float64), late, axes=1)
        out[:, : y.shape[1]] += y
        return out
