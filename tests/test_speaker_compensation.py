"""The diariser's voice compensation (WCCN of GE2E embeddings): the fit, the bundled map, and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import GRAPHS, run_cli

from nodes.sim.speech import MEETING_VOICES
from nodes.speaker.compensation import BUNDLED, CompensationError, VoiceCompensation, fit_wccn, resolve


def _nearest_mean_accuracy(x: np.ndarray, labels: np.ndarray) -> float:
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    means = np.stack([u[labels == k].mean(axis=0) for k in range(labels.max() + 1)])
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    return float(np.mean(np.argmax(u @ means.T, axis=1) == labels))


def test_fit_shrinks_the_direction_talkers_vary_along() -> None:
    """Talkers told apart by a small difference, each varying a lot along one shared direction (the room): after the map,
    nearest-mean naming of held-out vectors is right far more often."""
    rng = np.random.default_rng(0)
    d, talkers = 16, 3
    common = np.zeros(d)
    common[0] = 5.0
    voice = 0.1 * rng.standard_normal((talkers, d))
    nuisance = np.zeros(d)
    nuisance[1] = 1.0

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, talkers, n)
        x = common + voice[labels] + 2.0 * rng.standard_normal((n, 1)) * nuisance + 0.05 * rng.standard_normal((n, d))
        return x, labels

    x_train, l_train = draw(3000)
    mu, a = fit_wccn(x_train, list(l_train), shrink=0.1)
    comp = VoiceCompensation(mu, a)
    x_test, l_test = draw(600)
    before = _nearest_mean_accuracy(x_test, l_test)
    after = _nearest_mean_accuracy(np.stack([comp(v) for v in x_test]), l_test)
    assert after > before + 0.2, (before, after)
    assert np.allclose(np.linalg.norm(np.stack([comp(v) for v in x_test[:10]]), axis=1), 1.0, atol=1e-5)


def test_fit_needs_two_vectors_of_some_talker() -> None:
    with pytest.raises(ValueError, match="at least two"):
        fit_wccn(np.eye(3), ["a", "b", "c"])


def test_bundled_map_was_learnt_on_voices_the_meetings_never_use() -> None:
    comp = VoiceCompensation.load(BUNDLED)
    assert comp.a.shape == (256, 256) and comp.mu.shape == (256,)
    assert np.allclose(comp.a, comp.a.T, atol=1e-5)
    voices = set(comp.info["voices"])
    assert len(voices) >= 8 and not voices & set(MEETING_VOICES), voices & set(MEETING_VOICES)
    # keeps the common part: the training mean maps onto itself, and cosines stay on the raw scale
    assert float(comp(comp.mu) @ (comp.mu / np.linalg.norm(comp.mu))) > 0.9999


def test_auto_compensates_location_aware_diarisation_only(tmp_path: Path) -> None:
    assert resolve("auto", location_aware=False) is None
    assert resolve("off", location_aware=True) is None
    assert resolve("auto", location_aware=True) is not None and resolve("on", location_aware=False) is not None
    path = tmp_path / "mine.npz"
    VoiceCompensation(np.zeros(4), 2 * np.eye(4), {"note": "test"}).save(path)
    mine = resolve(str(path), location_aware=False)
    assert mine is not None and mine.info == {"note": "test"}
    assert np.allclose(mine(np.array([3.0, 0, 0, 4.0])), [0.6, 0, 0, 0.8])


@pytest.mark.parametrize("case, words", [
    ("missing", "not found"),
    ("text", "not a voice compensation file"),
    ("shape", "square matrix"),
])
def test_unusable_maps_say_why(tmp_path: Path, case: str, words: str) -> None:
    path = tmp_path / "map.npz"
    if case == "text":
        path.write_text("not numpy")
    elif case == "shape":
        np.savez(path, mu=np.zeros(3), A=np.zeros((3, 2)))
    with pytest.raises(CompensationError, match=words):
        VoiceCompensation.load(path)


def test_a_bad_map_in_a_graph_is_one_clear_error(tmp_path: Path) -> None:
    """A graph naming a map that is not there stops before any audio is read, pointing at the parameter."""
    import soundfile as sf

    graph = json.loads((GRAPHS / "meeting.json").read_text())
    node = next(n for n in graph["nodes"] if n["type"] == "speaker.diarizer")
    node.setdefault("params", {})["voice_compensation"] = str(tmp_path / "nowhere.npz")
    (tmp_path / "g.json").write_text(json.dumps(graph))
    sf.write(tmp_path / "a.wav", np.zeros(16000, dtype=np.float32), 16000)
    res = run_cli("run", str(tmp_path / "g.json"), "--input", str(tmp_path / "a.wav"), "--out", str(tmp_path / "out"))
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr
    assert "voice_compensation" in res.stderr and "neither auto, on, off nor a map file" in res.stderr, res.stderr
    last = res.stderr.strip().splitlines()[-1]  # (a mono input's notice may come before it)
    assert last.startswith("meetflow: ") and "voice_compensation" in last, res.stderr
