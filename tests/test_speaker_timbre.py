"""Timbre as a second voice cue: cepstral statistics, their supervectors, and refinement keeping apart voices the embedding confuses."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import needs_espeak
from test_speaker_pitch import _same_partition

from nodes.speaker.encoder import mel_spectrogram
from nodes.speaker.kalman_ahc import AhcConfig, KalmanAhc, Profile
from nodes.speaker.timbre import N_CEPS, RunningCmn, TimbreUbm, cepstra, loud_frames
from nodes.speaker.units import Unit


@pytest.fixture(scope="module")
def ubm() -> TimbreUbm:
    return TimbreUbm.load()


def test_bundled_model_fits_the_features(ubm: TimbreUbm) -> None:
    k, d = ubm.means.shape
    assert d == 2 * N_CEPS and ubm.size == k * (d + 1)
    assert ubm.weights.sum() == pytest.approx(1.0) and (ubm.variances > 0).all()


def test_statistics_add_and_little_speech_stays_at_the_meeting(ubm: TimbreUbm) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 2 * N_CEPS)), rng.normal(size=(70, 2 * N_CEPS))
    assert np.allclose(ubm.stats(x) + ubm.stats(y), ubm.stats(np.vstack([x, y])), rtol=1e-4, atol=1e-3)  # a run's is its windows' sum
    assert ubm.stats(x)[: len(ubm.weights)].sum() == pytest.approx(40, rel=1e-4)  # every frame counted once
    assert not ubm.stats(np.zeros((0, 2 * N_CEPS))).any()
    around = ubm.adapted_means(ubm.stats(np.vstack([x, y])))
    short = ubm.supervector(ubm.stats(x[:2]), around)
    longer = ubm.supervector(ubm.stats(x), around)
    assert np.linalg.norm(short) < np.linalg.norm(longer)  # two frames barely move a voice from the meeting's


def test_running_mean_takes_out_a_fixed_colouring() -> None:
    rng = np.random.default_rng(1)
    c = rng.normal(size=(500, 2 * N_CEPS)).astype(np.float32)
    tilt = np.zeros(2 * N_CEPS, np.float32)
    tilt[:N_CEPS] = rng.normal(0, 3, N_CEPS)  # a room or beam adds a constant to every cepstrum (not to the deltas)
    plain, coloured = RunningCmn(prior_frames=0), RunningCmn(prior_frames=0)
    a = np.vstack([plain(c[k : k + 50]) for k in range(0, 500, 50)])
    b = np.vstack([coloured(c[k : k + 50] + tilt) for k in range(0, 500, 50)])
    assert np.allclose(a, b, atol=1e-4)


def test_cepstra_and_loud_frames() -> None:
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.normal(0, 0.1, 8000), np.zeros(8000)]).astype(np.float32)
    mel = mel_spectrogram(x)
    c = cepstra(mel)
    assert c.shape == (len(mel), 2 * N_CEPS) and np.isfinite(c).all()
    loud = loud_frames(mel)
    assert loud[:40].all() and not loud[-40:].any()  # digital silence is no voice
    assert cepstra(np.zeros((0, 40))).shape == (0, 2 * N_CEPS)


def _sentence_stats(ubm: TimbreUbm, voice: str, texts: list[str], cmn: RunningCmn) -> list[np.ndarray]:
    from nodes.sim.tts import synthesize

    out = []
    for text in texts:
        mel = mel_spectrogram(synthesize(text, voice))
        out.append(ubm.stats(cmn(cepstra(mel)[loud_frames(mel)])))
    return out


@needs_espeak
def test_alike_espeak_voices_told_apart_by_timbre(ubm: TimbreUbm) -> None:
    """en-us+m3 and en-gb-x-rp+m1, the pair the GE2E encoder confuses most, each sentence named by the closer voice's others."""
    texts = ["We should move the review to next week.", "The budget looks fine to me for now.",
             "Can you send the notes after the call?", "I think the second option is safer."]
    cmn = RunningCmn()
    a = _sentence_stats(ubm, "en-us+m3", texts, cmn)
    b = _sentence_stats(ubm, "en-gb-x-rp+m1", texts[::-1], cmn)
    around = ubm.adapted_means(np.sum(a + b, axis=0))

    def vec(stats: np.ndarray) -> np.ndarray:
        v = ubm.supervector(stats, around)
        return v / np.linalg.norm(v)

    for own, other in ((a, b), (b, a)):
        for k, s in enumerate(own):
            same = vec(np.sum([o for j, o in enumerate(own) if j != k], axis=0))
            assert vec(s) @ same > vec(s) @ vec(np.sum(other, axis=0)) + 0.1


def _twins(ubm: TimbreUbm, seed: int, timbred: bool) -> tuple[list[Unit], list[int]]:
    """Three talkers taking turns, no directions: 0 and 1 sound alike to the embeddings (alike enough to merge without timbre),
    their cepstra apart; talker 2 has an embedding of their own and cepstra between theirs."""
    rng = np.random.default_rng(seed)
    base = np.abs(rng.normal(size=(3, 64)))
    voices = [base[0], base[0] + 0.7 * base[2], base[1]]
    shift = rng.normal(0, 1, size=2 * N_CEPS)
    centres = [ubm.means[0] - 0.5 * shift, ubm.means[0] + 0.5 * shift, ubm.means[0]]
    units: list[Unit] = []
    truth: list[int] = []
    t = 0.0
    for k in range(12):
        spk = k % 3
        for _ in range(6):
            e = voices[spk] + 0.3 * np.abs(rng.normal(size=64))
            frames = centres[spk] + rng.normal(0, 0.5, size=(50, 2 * N_CEPS))
            units.append(Unit(len(units), t, t + 0.5, (e / np.linalg.norm(e)).astype(np.float32), t - 1.0, f"s{k}",
                              timbre=ubm.stats(frames) if timbred else None))
            truth.append(spk)
            t += 0.5
        t += 1.0
    return units, truth


def test_refinement_keeps_apart_alike_voices_of_different_timbre(ubm: TimbreUbm) -> None:
    units, truth = _twins(ubm, 0, timbred=True)
    config = AhcConfig(pca_dims=0, change_cos=-1, timbre_weight=0.3)
    assert _same_partition(KalmanAhc(config).cluster(units, list(range(len(units)))), truth)
    deaf = KalmanAhc(AhcConfig(pca_dims=0, change_cos=-1, timbre_weight=0.0)).cluster(units, list(range(len(units))))
    assert len(set(deaf)) == 2  # the embeddings alone merge the twins
    plain, _ = _twins(ubm, 0, timbred=False)
    assert len(set(KalmanAhc(config).cluster(plain, list(range(len(plain)))))) == 2  # no timbre measured: no timbre term


def test_remembered_voice_carries_its_timbre(ubm: TimbreUbm) -> None:
    """A returning talker joins the remembered voice of their own timbre, not the alike voice of another."""
    units, truth = _twins(ubm, 1, timbred=True)
    low = [u for u, s in zip(units, truth) if s == 0]
    high = [u for u, s in zip(units, truth) if s == 1]
    other = [u for u, s in zip(units, truth) if s == 2]

    def profile(us: list[Unit]) -> Profile:
        w = sum(u.window_s for u in us)
        return Profile(sum(u.window_s * u.vector.astype(np.float64) for u in us), w, 0.5 * len(us), len(us),
                       timbre=np.sum([u.timbre for u in us], axis=0))

    back = high[-6:]
    voices = [profile(low), profile(high[:-6]), profile(other)]
    labels = KalmanAhc(AhcConfig(pca_dims=0, change_cos=-1, timbre_weight=0.3)).cluster(back, [0] * len(back), voices)
    assert set(labels[: len(back)]) == {labels[-2]}


def test_alike_timbres_count_only_beyond_the_margin() -> None:
    """Unlike timbres count whole; alike ones only beyond ``timbre_margin`` (two voices of one kind look alike, centred)."""
    cos = np.array([-0.4, 0.0, 0.2, 0.6])
    assert np.allclose(KalmanAhc(AhcConfig(timbre_weight=1.0))._timbre_score(cos), cos)
    assert np.allclose(KalmanAhc(AhcConfig(timbre_weight=0.5, timbre_margin=0.3))._timbre_score(cos), [-0.2, 0.0, 0.0, 0.15])
