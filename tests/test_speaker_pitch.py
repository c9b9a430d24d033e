"""Pitch as a voice cue: the YIN estimator, the pitch model, and refinement keeping apart alike voices of different pitch."""

from __future__ import annotations

import numpy as np
import pytest

from nodes.speaker.kalman_ahc import AhcConfig, KalmanAhc, Profile
from nodes.speaker.pitch import PitchModel, frame_f0, window_pitch
from nodes.speaker.units import Unit

RATE = 16000


def _voiced(f0: float, seconds: float = 1.5, seed: int = 0, noise_db: float = -20.0) -> np.ndarray:
    """A glottal-like pulse train (harmonics falling 6 dB per octave) at ``f0`` with a slow 3% vibrato, plus white noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.03 * np.sin(2 * np.pi * 3 * t))) / RATE
    x = sum(np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 30) if k * f0 < RATE / 2)
    x = x / np.std(x)
    return (x + 10 ** (noise_db / 20) * rng.normal(size=len(x))).astype(np.float32)


@pytest.mark.parametrize("f0", [75.0, 110.0, 180.0, 260.0])
def test_window_pitch_finds_the_fundamental(f0: float) -> None:
    pitch, voiced = window_pitch(_voiced(f0), RATE)
    assert pitch is not None and voiced > 1.0
    assert abs(2**pitch / f0 - 1) < 0.02  # the vibrato is +-3% about f0; the median sits on it


def test_silence_and_noise_have_no_pitch() -> None:
    assert window_pitch(np.zeros(RATE, np.float32), RATE) == (None, 0.0)
    noise = np.random.default_rng(1).normal(size=RATE).astype(np.float32)
    pitch, voiced = window_pitch(noise, RATE)
    assert pitch is None and voiced < 0.2
    assert len(frame_f0(np.zeros(100, np.float32), RATE)) == 0  # shorter than one frame


def test_pauses_do_not_count_as_voiced() -> None:
    x = np.concatenate([_voiced(120.0, 0.5), np.zeros(RATE // 2, np.float32), _voiced(120.0, 0.5, seed=1)])
    pitch, voiced = window_pitch(x, RATE)
    assert pitch is not None and abs(2**pitch / 120 - 1) < 0.02
    assert 0.7 < voiced < 1.05  # about the two voiced halves, not the pause


def test_pitch_score_is_centred_capped_and_grows_with_evidence() -> None:
    m = PitchModel(sd_per_s=0.055, floor=0.03, cap_sd=3.0)
    assert m.penalty(7.0, 1.0, 7.0, 1.0) == 0.5  # the same pitch: a little for one talker (two may share a pitch)
    assert m.penalty(7.0, 1.0, 0.0, 0.0) == 0.0  # no voiced speech: says nothing
    short = m.penalty(7.0 * 1, 1.0, 7.1 * 1, 1.0)
    longer = m.penalty(7.0 * 4, 4.0, 7.1 * 4, 4.0)
    assert longer < short < 0.5  # 0.1 octave apart: stronger evidence with more voiced speech ...
    assert m.penalty(7.0 * 1e3, 1e3, 7.1 * 1e3, 1e3) == pytest.approx(-0.5 * (0.1**2 / (2 * 0.03**2) - 1), rel=1e-2)  # ... up to the drift's
    assert m.penalty(7.0, 1.0, 8.0, 1.0) == -0.5 * (3.0**2 - 1)  # an octave apart counts as 3 standard deviations
    assert m.penalty(7.1, 1.0, 7.0, 1.0) == short  # symmetric
    rng = np.random.default_rng(0)  # zero on average over pairs one talker gives
    n = 20000
    w = rng.uniform(0.5, 3.0, size=(n, 2))
    p = 6.8 + rng.normal(0, 0.03, size=(n, 1)) * 0 + rng.normal(0, 0.055, size=(n, 2)) / np.sqrt(w) + rng.normal(0, 0.03, size=(n, 2))
    scores = [PitchModel(cap_sd=1e6).penalty(p[k, 0] * w[k, 0], w[k, 0], p[k, 1] * w[k, 1], w[k, 1]) for k in range(n)]
    assert abs(float(np.mean(scores))) < 0.03
    sums, weights = np.array([7.0, 7.15 * 2, 0.0]), np.array([1.0, 2.0, 0.0])
    row = m.penalties(sums, weights, 0)
    assert row[2] == 0.0 and row[0] == 0.5 and row[1] == pytest.approx(m.penalty(7.0, 1.0, 7.15 * 2, 2.0))


def _twins(seed: int, pitched: bool) -> tuple[list[Unit], list[int]]:
    """Three talkers taking turns, no directions: 0 and 1 sound alike to the embeddings (alike enough that they merge without pitch),
    1 speaks 0.3 octave above 0; talker 2 has a voice of their own, at a pitch between theirs."""
    rng = np.random.default_rng(seed)
    base = np.abs(rng.normal(size=(3, 64)))
    voices = [base[0], base[0] + 0.7 * base[2], base[1]]
    levels = [6.8, 7.1, 6.95]
    units: list[Unit] = []
    truth: list[int] = []
    t = 0.0
    for k in range(12):
        spk = k % 3
        for _ in range(6):
            e = voices[spk] + 0.3 * np.abs(rng.normal(size=64))
            pitch = levels[spk] + rng.normal(0, 0.05) if pitched else None
            units.append(Unit(len(units), t, t + 0.5, (e / np.linalg.norm(e)).astype(np.float32), t - 1.0, f"s{k}",
                              pitch=pitch, voiced_s=1.0 if pitched else 0.0))
            truth.append(spk)
            t += 0.5
        t += 1.0
    return units, truth


def _same_partition(labels: list[int], truth: list[int]) -> bool:
    return all((labels[i] == labels[j]) == (truth[i] == truth[j]) for i in range(len(truth)) for j in range(i))


def test_refinement_keeps_apart_alike_voices_of_different_pitch() -> None:
    units, truth = _twins(0, pitched=True)
    config = AhcConfig(pca_dims=0, change_cos=-1)
    assert _same_partition(KalmanAhc(config).cluster(units, list(range(len(units)))), truth)
    deaf = KalmanAhc(AhcConfig(pca_dims=0, change_cos=-1, pitch_weight=0.0)).cluster(units, list(range(len(units))))
    assert len(set(deaf)) == 2  # the embeddings alone merge the twins
    unpitched, _ = _twins(0, pitched=False)
    assert len(set(KalmanAhc(config).cluster(unpitched, list(range(len(unpitched)))))) == 2  # no pitch measured: no pitch term


def test_remembered_voice_carries_its_pitch() -> None:
    """A returning talker joins the remembered voice of their own pitch, not the alike voice of another pitch."""
    units, truth = _twins(1, pitched=True)
    low = [u for u, s in zip(units, truth) if s == 0]
    high = [u for u, s in zip(units, truth) if s == 1]
    other = [u for u, s in zip(units, truth) if s == 2]

    def profile(us: list[Unit]) -> Profile:
        w = sum(u.window_s for u in us)
        return Profile(sum(u.window_s * u.vector.astype(np.float64) for u in us), w, 0.5 * len(us), len(us),
                       pitch_sum=sum(u.pitch_weight * u.pitch for u in us), pitch_w=sum(u.pitch_weight for u in us))

    back = high[-6:]  # the higher talker speaks again after both were heard before the horizon
    config = AhcConfig(pca_dims=0, change_cos=-1)
    voices = [profile(low), profile(high[:-6]), profile(other)]
    labels = KalmanAhc(config).cluster(back, [0] * len(back), voices)
    assert set(labels[: len(back)]) == {labels[-2]}  # the cluster of the higher talker's voice (profiles' ids come last)
    deaf = KalmanAhc(AhcConfig(pca_dims=0, change_cos=-1, pitch_weight=0.0)).cluster(back, [0] * len(back), voices)
    assert set(deaf[: len(back)]) <= {deaf[-3], deaf[-2]}  # by voice alone: one of the twins, whichever is closer
