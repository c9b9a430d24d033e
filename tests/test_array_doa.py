"""Streaming STFT and direction finding on synthetic plane waves (free field, known directions)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nodes.array.doa import DirectionFinder, LevelTracker
from nodes.array.geometry import PRESETS, SPEED_OF_SOUND, angle_diff
from nodes.array.stft import StreamingStft

RATE = 16000


def plane_wave(geometry, azimuths: list[float], seconds: float = 0.4, seed: int = 0, snr_db: float = 30.0) -> np.ndarray:
    """Far-field sources (white noise each) from ``azimuths`` at the array: (frames, mics)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    f = np.fft.rfftfreq(n, 1 / RATE)
    out = np.zeros((n, geometry.n_mics))
    for az in azimuths:
        u = np.array([math.cos(math.radians(az)), math.sin(math.radians(az)), 0.0])
        S = np.fft.rfft(rng.standard_normal(n))
        lead = geometry.xyz @ u / SPEED_OF_SOUND  # seconds each mic hears the wave early
        out += np.fft.irfft(S[None, :] * np.exp(2j * np.pi * f[None, :] * lead[:, None]), n=n).T
    out += rng.standard_normal(out.shape) * np.std(out) * 10 ** (-snr_db / 20)
    return (out / np.max(np.abs(out)) * 0.5).astype(np.float32)


def spectrum(x: np.ndarray) -> np.ndarray:
    _, X = StreamingStft(512, 256).process(x, 0)
    return X


def test_stft_frames_do_not_depend_on_block_size() -> None:
    x = np.random.default_rng(1).standard_normal((5000, 3)).astype(np.float32)
    whole = spectrum(x)
    for block in (1, 97, 320, 777):
        st = StreamingStft(512, 256)
        parts = [st.process(x[i : i + block], i)[1] for i in range(0, len(x), block)]
        assert np.allclose(np.concatenate(parts), whole, atol=1e-5)
    window = np.hanning(513)[:-1]
    assert np.allclose(whole[3], np.fft.rfft(x[768 : 768 + 512] * window[:, None], axis=0), atol=1e-4)
    # a stream that starts mid-grid gets frames on the same grid (frame 2 = samples 512..1023)
    st = StreamingStft(512, 256)
    first, bins = st.process(x[300:], 300)
    assert first == 2 and np.allclose(bins[0], whole[2], atol=1e-5)


@pytest.mark.parametrize("algorithm", ["normmusic", "music", "srp"])
def test_vectorised_backend_equals_pyroomacoustics(algorithm: str) -> None:
    g = PRESETS["circular7"]
    X = spectrum(plane_wave(g, [40.0, -100.0]))[:10]
    fast = DirectionFinder(g, RATE, 512, algorithm, backend="vectorised").spectrum(X)
    ref = DirectionFinder(g, RATE, 512, algorithm, backend="pyroomacoustics").spectrum(X)
    assert np.allclose(fast, ref, rtol=1e-4, atol=1e-6 * np.max(np.abs(ref)))


@pytest.mark.parametrize("algorithm", ["normmusic", "music", "srp", "tops"])
@pytest.mark.parametrize("azimuth", [0.0, 73.0, 179.5, -179.5, -120.0])
def test_single_source_direction(algorithm: str, azimuth: float) -> None:
    g = PRESETS["circular7"]
    X = spectrum(plane_wave(g, [azimuth], seed=int(azimuth) % 7))[:12]
    r = DirectionFinder(g, RATE, 512, algorithm, num_sources=1).estimate(X)
    assert abs(angle_diff(r.azimuth_deg[0], azimuth)) < 2.0, (algorithm, r.azimuth_deg)
    assert -180.0 < r.azimuth_deg[0] <= 180.0
    assert r.strength[0] > 0.5


def test_two_sources_two_peaks() -> None:
    g = PRESETS["circular7"]
    X = spectrum(plane_wave(g, [30.0, 150.0], seconds=0.6))[:20]
    r = DirectionFinder(g, RATE, 512, "normmusic", num_sources=2).estimate(X)
    found = sorted(r.azimuth_deg.tolist())
    assert abs(found[0] - 30.0) < 4 and abs(found[1] - 150.0) < 4


@pytest.mark.parametrize("name", ["uma8", "respeaker4", "respeaker6", "respeaker_usb4"])
def test_other_presets_localise(name: str) -> None:
    g = PRESETS[name]
    X = spectrum(plane_wave(g, [-60.0]))[:12]
    r = DirectionFinder(g, RATE, 512).estimate(X)
    assert abs(angle_diff(r.azimuth_deg[0], -60.0)) < 3.0


def test_linear_array_reports_the_half_plane() -> None:
    g = PRESETS["linear4"]
    for truth, expect in ((60.0, 60.0), (-60.0, 60.0), (135.0, 135.0)):  # -60 is the mirror image of 60
        r = DirectionFinder(g, RATE, 512).estimate(spectrum(plane_wave(g, [truth]))[:12])
        assert 0.0 <= r.azimuth_deg[0] <= 180.0 and abs(r.azimuth_deg[0] - expect) < 3.0


def test_a_subset_of_mics_still_localises() -> None:
    g = PRESETS["circular7"]
    x = plane_wave(g, [100.0])
    x[:, 4] = 0.0  # a dead mic
    r = DirectionFinder(g, RATE, 512).estimate(spectrum(x)[:12], use=[0, 1, 2, 3, 5, 6])
    assert abs(angle_diff(r.azimuth_deg[0], 100.0)) < 3.0


def test_level_tracker_learns_the_background() -> None:
    lt = LevelTracker()
    acts = [lt.update(1e-6, 0.16)[1] for _ in range(20)]
    assert max(acts) == 0.0
    assert lt.update(1e-4, 0.16)[1] == 1.0  # 20 dB above the background
    assert lt.update(2e-6, 0.16)[1] == 0.0
