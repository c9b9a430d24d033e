"""tools/overlap_voices.py: the null-steered beam passes the target and removes the other talker; stretches are found."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import overlap_voices as ov

from nodes.array.beam import steering
from nodes.array.geometry import PRESETS

MICS = np.array(PRESETS["circular7"].positions)
RATE = 16000


def _plane_wave(signal: np.ndarray, azimuth_deg: float) -> np.ndarray:
    """``signal`` as the array hears it from ``azimuth_deg`` (samples, mics): each mic's delay applied in the frequency domain."""
    f = np.fft.rfftfreq(len(signal), 1.0 / RATE)
    a = steering(MICS, f, azimuth_deg)  # the phase each mic hears the wave with
    return np.fft.irfft(np.fft.rfft(signal)[:, None] * a, n=len(signal), axis=0)


def test_null_steered_weights_pass_the_target_and_null_the_other() -> None:
    freqs = np.fft.rfftfreq(ov.N_FFT, 1.0 / RATE)
    w = ov.null_steered_weights(MICS, freqs, 30.0, 120.0)
    to_target = np.abs(np.einsum("fi,fi->f", w.conj(), steering(MICS, freqs, 30.0)))
    to_other = np.abs(np.einsum("fi,fi->f", w.conj(), steering(MICS, freqs, 120.0)))
    band = (freqs >= 500) & (freqs <= 7000)
    assert np.allclose(to_target[band], 1.0, atol=0.01)
    assert to_other[band].max() < 0.01


def test_filtering_a_stretch_keeps_the_target_and_removes_the_nulled_talker() -> None:
    rng = np.random.default_rng(3)
    n = 2 * RATE
    target, other = rng.standard_normal(n), rng.standard_normal(n)
    x = _plane_wave(target, 30.0) + _plane_wave(other, 120.0)
    freqs = np.fft.rfftfreq(ov.N_FFT, 1.0 / RATE)
    y = ov.filter_stretch(x, RATE, 0.5, 1.5, ov.null_steered_weights(MICS, freqs, 30.0, 120.0))
    want = target[int(0.5 * RATE) : int(1.5 * RATE)]
    assert len(y) == len(want)
    residual = y - want
    # below 500 Hz the 4.25 cm array cannot null without amplifying itself: compare above it
    hi = np.fft.rfftfreq(len(want), 1.0 / RATE) >= 500
    err = np.sum(np.abs(np.fft.rfft(residual)[hi]) ** 2) / np.sum(np.abs(np.fft.rfft(want)[hi]) ** 2)
    assert err < 0.01  # the other talker, as loud as the target, is over 20 dB down


def test_stretches_split_the_reference_into_two_talker_and_one_talker_parts() -> None:
    ref = [(0.0, 4.0, "A"), (3.0, 6.0, "B"), (5.5, 7.0, "C"), (8.0, 9.0, "A")]
    two, one = ov.stretches(ref)
    assert [(round(a, 2), round(b, 2), p, q) for a, b, p, q in two] == [(3.0, 4.0, "A", "B"), (5.5, 6.0, "B", "C")]
    assert [(round(a, 2), round(b, 2), s) for a, b, s in one] == [(0.0, 3.0, "A"), (4.0, 5.5, "B"), (6.0, 7.0, "C"),
                                                                   (8.0, 9.0, "A")]


def test_the_report_counts_by_angle_apart() -> None:
    rows = [ov.Named("sim1", 0.0, 1.0, 20.0, (True, 0.1), (False, -0.1)),
            ov.Named("sim1", 0.0, 1.0, 90.0, (False, -0.05), (True, 0.2))]
    text = ov.report(rows)
    assert "0-30 deg apart: 1, named right steered 1, nulled 0" in text
    assert "60-180 deg apart: 1, named right steered 0, nulled 1" in text
    assert "steered: 1 of 2 right" in text
