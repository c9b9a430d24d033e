"""The live particle filter's timbre models (nodes/speaker/timbre_models.py): kept up to date, they score as if adapted afresh."""

from __future__ import annotations

import numpy as np

from nodes.speaker.timbre import TimbreUbm
from nodes.speaker.timbre_models import SpeakerTimbres
from nodes.speaker.timbre_reseg import stretch_logliks


def _stretch(ubm: TimbreUbm, rng: np.random.Generator, centre: int) -> np.ndarray:
    return ubm.stats(ubm.means[centre] + rng.normal(0, 0.6, size=(50, ubm.means.shape[1])))


def _direct(ubm: TimbreUbm, per: np.ndarray, x: np.ndarray, relevance: float) -> np.ndarray:
    """The ratio computed from scratch: each (particle, slot)'s adapted model against all stretches pooled."""
    pooled = per[0].sum(axis=0).astype(np.float64)
    meeting = stretch_logliks(ubm, x.astype(np.float64), ubm.adapted_means(pooled, relevance))[0]
    return np.array([[stretch_logliks(ubm, x.astype(np.float64), ubm.adapted_means(s, relevance))[0] for s in row] for row in per]) - meeting


def test_models_kept_up_to_date_score_as_if_adapted_afresh() -> None:
    ubm = TimbreUbm.load()
    rng = np.random.default_rng(0)
    models = SpeakerTimbres(ubm, particles=6, slots=4, relevance=16.0)
    per = np.zeros((6, 4, ubm.size))
    for step in range(12):  # each particle gives each stretch to a speaker of its own choosing
        x = _stretch(ubm, rng, step % 3)
        slots = rng.integers(0, 3, size=6)
        models.add(np.arange(6), slots, x)
        per[np.arange(6), slots] += x
    x = _stretch(ubm, rng, 1)
    assert np.allclose(models.loglik(x, 3), _direct(ubm, per[:, :3], x, 16.0), rtol=1e-4, atol=1e-2)
    # resampling: particles become copies of others
    idx = np.array([5, 5, 0, 1, 2, 2])
    models.take(idx, 3)
    assert np.allclose(models.loglik(x, 3), _direct(ubm, per[idx, :3], x, 16.0), rtol=1e-4, atol=1e-2)
    # a restart from one labelling: every particle holds the same speakers
    one = per[0]
    models.reseed(one)
    assert np.allclose(models.loglik(x, 4), _direct(ubm, np.repeat(one[None], 6, axis=0), x, 16.0), rtol=1e-4, atol=1e-2)


def test_the_talker_is_the_best_model_and_a_new_voice_scores_below_the_meeting() -> None:
    ubm = TimbreUbm.load()
    rng = np.random.default_rng(1)
    models = SpeakerTimbres(ubm, particles=3, slots=3, relevance=16.0)
    for _ in range(10):
        for slot, centre in ((0, 4), (1, 9)):
            models.add(np.arange(3), np.full(3, slot), _stretch(ubm, rng, centre))
    ll = models.loglik(_stretch(ubm, rng, 9), 2)
    assert (np.argmax(ll, axis=1) == 1).all() and (ll[:, 1] > 0).all()
    assert (models.loglik(_stretch(ubm, rng, 20), 2) < 0).all()  # nobody's voice: both below the meeting's model


def test_new_models_are_the_background_in_every_particle_and_slot() -> None:
    """The empty model is worked out once and copied to every pair: each must still score as if adapted afresh."""
    ubm = TimbreUbm.load()
    rng = np.random.default_rng(1)
    models = SpeakerTimbres(ubm, particles=5, slots=3, relevance=16.0)
    x = _stretch(ubm, rng, 2)
    assert np.allclose(models.loglik(x, 3), _direct(ubm, np.zeros((5, 3, ubm.size)), x, 16.0), rtol=1e-4, atol=1e-2)
    models.add(np.array([0, 1, 2, 3, 4]), np.array([0, 0, 1, 0, 1]), x)  # slot 2 stays empty everywhere
    per = np.zeros((5, 3, ubm.size))
    per[np.arange(5), [0, 0, 1, 0, 1]] += x
    y = _stretch(ubm, rng, 0)
    assert np.allclose(models.loglik(y, 3), _direct(ubm, per, y, 16.0), rtol=1e-4, atol=1e-2)
