"""Scoring directions of a linear array: what it measures (a cone angle, folded) against the truth (an azimuth)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from sim_meetings import meeting, needs_espeak

from nodes.array.doa import DirectionFinder
from nodes.array.evaluate import TRUTH_KEYS, as_measured, cone_angle, fold, fold_estimates, read_jsonl, score
from nodes.array.geometry import PRESETS, angle_diff, azimuth_of, from_mics
from nodes.array.stft import StreamingStft

RATE = 16000
ALONG_Y = from_mics([[0.0, y, 0.0] for y in (-0.06, -0.02, 0.02, 0.06)], "line-y")


def test_fold_mirrors_into_the_half_plane() -> None:
    assert fold(-72.0, 0.0) == pytest.approx(72.0) and fold(72.0, 0.0) == pytest.approx(72.0)
    assert fold(-179.0, 0.0) == pytest.approx(179.0) and fold(-2.0, 0.0) == pytest.approx(2.0)
    # a line along +y: its half plane is [90, 270], i.e. the left side; -80 (right, behind) mirrors to -100
    assert ALONG_Y.azimuth_range() == (90.0, 270.0)
    assert fold(-80.0, 90.0) == pytest.approx(-100.0) and fold(-100.0, 90.0) == pytest.approx(-100.0)
    assert fold(80.0, 90.0) == pytest.approx(100.0)
    rows = fold_estimates([{"t": 1.0, "azimuth_deg": -3.0}, {"t": 1.0, "azimuth_deg": [-178.0, 40.0]}], 0.0)
    assert rows[0]["azimuth_deg"] == pytest.approx(3.0) and rows[1]["azimuth_deg"] == pytest.approx([178.0, 40.0])
    assert fold_estimates(rows, None) is rows


def test_cone_angle_of_an_elevated_talker() -> None:
    # 1.9 m away at azimuth 16 deg, 0.5 m above the array: a line along x hears 21.6 deg, not 16
    az, r, dz = math.radians(16.0), 1.9, 0.5
    p = (r * math.cos(az), r * math.sin(az), dz)
    assert cone_angle(p, (0, 0, 0), 0.0) == pytest.approx(math.degrees(math.acos(r * math.cos(az) / math.hypot(r, dz))), abs=1e-9)
    assert cone_angle(p, (0, 0, 0), 0.0) == pytest.approx(21.6, abs=0.1)
    assert cone_angle((p[0], -p[1], 0.0), (0, 0, 0), 0.0) == pytest.approx(16.0)  # at the array's height: the folded azimuth
    assert cone_angle((-1.0, 1.0, 0.0), (0, 0, 0), 90.0) == pytest.approx(135.0)


def _room_estimate(geometry, position: tuple[float, float, float], centre: np.ndarray) -> float:  # noqa: ANN001
    """Render white noise from ``position`` to the array in a free field (pyroomacoustics, image order 0) and find it."""
    from nodes.sim.room import RoomSpec, convolve, impulse_responses

    spec = RoomSpec((6.0, 5.0, 3.0), 0.3, RATE)
    h = impulse_responses(spec, geometry.xyz + centre[None, :], [position], max_order=0)[0]
    dry = np.random.default_rng(0).standard_normal(RATE // 2)
    y = convolve(dry, h, len(dry)).T.astype(np.float32)
    _, X = StreamingStft(512, 256).process(y, 0)
    finder = DirectionFinder(geometry, RATE, 512, num_sources=1)
    return float(np.median([finder.estimate(X[i : i + 10]).azimuth_deg[0] for i in range(2, 22, 5)]))


@pytest.mark.parametrize("geometry", [PRESETS["linear4"], ALONG_Y], ids=["along-x", "along-y"])
def test_the_simulator_and_a_linear_array_agree_on_the_cone_angle(geometry) -> None:  # noqa: ANN001
    """Simulator and array share one frame: without reflections the estimate is the talker's cone angle, whatever its height."""
    centre = np.array([3.0, 2.5, 0.75])
    axis = geometry.azimuth_range()[0]
    for az, r, z in ((16.0, 1.9, 1.25), (-72.0, 1.2, 1.2), (129.0, 1.5, 1.1), (-150.0, 1.4, 0.75)):
        p = (centre[0] + r * math.cos(math.radians(az)), centre[1] + r * math.sin(math.radians(az)), z)
        est = _room_estimate(geometry, p, centre)
        cone = cone_angle(p, centre, axis)
        assert abs(float(angle_diff(est, cone))) < 1.5, (az, est, cone)
        if z > 1.0 and abs(float(angle_diff(fold(az, axis), axis))) < 30:  # near the axis, height matters
            assert abs(float(angle_diff(est, fold(az, axis)))) > 3.0


def _scenario(mics: list[list[float]], positions: dict[str, tuple[float, float, float]]):  # noqa: ANN202
    from nodes.sim.scenario import Scenario

    return Scenario.model_validate({
        "duration_s": 10.0, "room": {"size": [6.0, 5.0, 3.0], "rt60": 0.3}, "noise": {"snr_db": None},
        "array": {"geometry": "test", "mics": mics, "centre": [3.0, 2.5, 0.75]},
        "talkers": [{"id": k, "voice": "en", "position": list(v)} for k, v in positions.items()], "utterances": [],
    })


def test_truth_as_a_linear_array_measures_it() -> None:
    positions = {"a": (3.0 + 1.8, 2.5 + 0.5, 1.25), "b": (3.0 - 0.4, 2.5 - 1.2, 1.2)}
    truth = [{"t": 1.0, "speaker": s, "azimuth_deg": azimuth_of(p, (3.0, 2.5, 0.75))} for s, p in positions.items()]
    lin = [list(p) for p in PRESETS["linear4"].positions]
    m = as_measured(truth, PRESETS["linear4"], _scenario(lin, positions))
    assert m.how == "cone" and m.axis_deg == 0.0 and "cone angle" in m.note
    for row, (s, p) in zip(m.truth, positions.items()):
        assert row["azimuth_deg"] == pytest.approx(cone_angle(p, (3.0, 2.5, 0.75), 0.0), abs=0.01) and 0 <= row["azimuth_deg"] <= 180
    # without positions (or with another meeting's): mirrored azimuths
    m = as_measured(truth, PRESETS["linear4"])
    assert m.how == "folded" and [r["azimuth_deg"] for r in m.truth] == pytest.approx([abs(r["azimuth_deg"]) for r in truth], abs=0.01)
    other = _scenario(lin, {"a": (1.0, 1.0, 1.2), "b": positions["b"]})
    assert as_measured(truth, PRESETS["linear4"], other).how == "folded"
    # a planar array measures azimuths: the truth stays as it is
    m = as_measured(truth, PRESETS["circular7"], _scenario([list(p) for p in PRESETS["circular7"].positions], positions))
    assert m.how == "azimuth" and m.truth is truth


@needs_espeak
def test_eval_doa_scores_a_linear_array_in_its_own_terms(tmp_path: Path) -> None:
    folder = meeting(array="linear4")
    out = tmp_path / "out"
    r = run_cli("run", "graphs/array.json", "--input", str(folder / "meeting.wav"), "--out", str(out), "--set", "array=linear4", "-q")
    assert r.returncode == 0, r.stderr
    js = tmp_path / "doa.json"
    r = run_cli("eval", "doa", "--truth", str(folder / "truth_azimuth.jsonl"), "--tracks", str(out / "tracks.jsonl"), "--json", str(js))
    assert r.returncode == 0, r.stderr
    assert "cone angle" in r.stdout  # found scenario.json beside the truth: linear array, talker heights known
    score_cone = json.loads(js.read_text())
    assert score_cone["settings"]["truth_as"] == "cone"
    # the same tracks against the truth as written (full-circle azimuths): what eval doa used to report
    tracks = read_jsonl(out / "tracks.jsonl", {"t": "number", "track_id": "integer", "azimuth_deg": "number"})
    plain = score(read_jsonl(folder / "truth_azimuth.jsonl", TRUTH_KEYS), tracks)
    assert score_cone["tracked"] > 0.8 and score_cone["tracked"] > plain.tracked + 0.1
    assert score_cone["median_err"] < 8.0
    # no scenario: --array says the array is linear, and the truth is mirrored into its half plane
    lone = tmp_path / "truth.jsonl"
    lone.write_text((folder / "truth_azimuth.jsonl").read_text())
    r = run_cli("eval", "doa", "--truth", str(lone), "--tracks", str(out / "tracks.jsonl"), "--array", "linear4", "--json", str(js))
    assert r.returncode == 0 and "mirrored" in r.stdout, r.stderr
    assert json.loads(js.read_text())["settings"]["truth_as"] == "folded"
    r = run_cli("eval", "doa", "--truth", str(lone), "--tracks", str(out / "tracks.jsonl"), "--array", "linear5")
    assert r.returncode == 3 and "unknown array 'linear5'" in r.stderr


def test_whitening_undoes_a_linear_array_s_pull_towards_broadside() -> None:
    """In a reverberant room a linear array hears the diffuse tail mostly from broadside; whitened MUSIC does not."""
    from nodes.sim.room import RoomSpec, convolve, impulse_responses

    g = PRESETS["linear4"]
    centre = np.array([2.6, 2.2, 0.75])
    spec = RoomSpec((5.0, 4.5, 2.8), 0.3, RATE)
    dry = np.random.default_rng(1).standard_normal(RATE)
    errs: dict[str, list[float]] = {"none": [], "auto": []}
    for az, r in ((25.0, 1.6), (150.0, 1.4)):
        p = (centre[0] + r * math.cos(math.radians(az)), centre[1] + r * math.sin(math.radians(az)), 1.2)
        h = impulse_responses(spec, g.xyz + centre[None, :], [p])[0]
        y = convolve(dry, h, len(dry)).T.astype(np.float32)
        _, X = StreamingStft(512, 256).process(y, 0)
        cone = cone_angle(p, centre, 0.0)
        for how in errs:
            finder = DirectionFinder(g, RATE, 512, num_sources=1, whiten=how)  # type: ignore[arg-type]
            est = float(np.median([finder.estimate(X[i : i + 10]).azimuth_deg[0] for i in range(10, 50, 10)]))
            errs[how].append(abs(float(angle_diff(est, cone))))
    assert max(errs["none"]) > 12.0  # the bias this guards against (about 20 deg here)
    assert max(errs["auto"]) < 8.0, errs
    assert not DirectionFinder(PRESETS["circular7"], RATE, 512).whiten  # planar arrays: no bias, nothing changed
    with pytest.raises(ValueError, match="whiten"):
        DirectionFinder(g, RATE, 512, algorithm="srp", whiten="diffuse")
