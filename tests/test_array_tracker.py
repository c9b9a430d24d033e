"""The multi-talker tracker on synthetic direction observations with known talkers; reading the files it is scored on."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from nodes.array.geometry import angle_diff, wrap_deg
from nodes.array.tracking import AzimuthTracker, TrackerConfig

STEP = 0.16  # one DOA block


def run(talkers: dict[str, tuple[Callable[[float], float], Callable[[float], bool]]], seconds: float, seed: int = 0, noise_deg: float = 3.0,
        outliers: float = 0.03, config: TrackerConfig | None = None) -> tuple[dict[str, list[int]], dict[str, list[float]], list]:
    """Feed observations of ``talkers`` (azimuth(t), speaking(t)) to a tracker.

    Returns, per talker, the id of the track matched to it at each block where it spoke (-1
    if none within 15 degrees) and the errors of those matches, plus the last track states.
    """
    rng = np.random.default_rng(seed)
    tr = AzimuthTracker(config)
    ids: dict[str, list[int]] = {k: [] for k in talkers}
    errs: dict[str, list[float]] = {k: [] for k in talkers}
    states: list = []
    for i in range(int(seconds / STEP)):
        t = (i + 0.5) * STEP
        active = [(k, float(wrap_deg(az(t)))) for k, (az, on) in talkers.items() if on(t)]
        obs = []
        for _, a in active:
            a = a + rng.normal(0.0, noise_deg)
            if rng.random() < outliers:
                a = rng.uniform(-180, 180)  # a reflection or a noise burst
            obs.append(float(wrap_deg(a)))
        strengths = [0.9] * len(obs)
        if not obs:  # silence: the DOA still reports a (meaningless) peak
            obs, strengths = [float(rng.uniform(-180, 180))], [0.4]
        states = tr.update(t, np.array(obs), np.array(strengths), 1.0 if active else 0.0)
        for k, a in active:
            on_now = [s for s in states if s.active]
            best = min(on_now, key=lambda s: abs(angle_diff(s.azimuth_deg, a)), default=None)
            if best is not None and abs(angle_diff(best.azimuth_deg, a)) < 15.0:
                ids[k].append(best.track_id)
                errs[k].append(abs(float(angle_diff(best.azimuth_deg, a))))
            else:
                ids[k].append(-1)
        for s in states:
            assert -180.0 < s.azimuth_deg <= 180.0
    return ids, errs, states


def main_id(ids: list[int]) -> tuple[int, float]:
    """The id that covered a talker most, and the share of the talker's blocks it covered."""
    vals, counts = np.unique([i for i in ids if i >= 0], return_counts=True)
    k = int(np.argmax(counts))
    return int(vals[k]), float(counts[k] / len(ids))


def always(t: float) -> bool:
    return True


def test_static_talker_is_smoothed() -> None:
    ids, errs, states = run({"a": (lambda t: 40.0, always)}, 20.0, noise_deg=4.0)
    tid, cover = main_id(ids["a"])
    assert cover > 0.95 and len(states) == 1 and states[0].track_id == tid
    assert np.median(errs["a"]) < 1.5  # raw observations: median |N(0, 4)| = 2.7 deg


def test_outliers_do_not_make_tracks() -> None:
    _, _, states = run({"a": (lambda t: -30.0, always)}, 30.0, outliers=0.1, seed=3)
    assert [s.track_id for s in states] == [1]


def test_walking_talker_keeps_one_track() -> None:
    ids, errs, _ = run({"w": (lambda t: -80.0 + 12.0 * t, always)}, 12.0)  # 12 deg/s, as a walker 2 m away
    tid, cover = main_id(ids["w"])
    assert cover > 0.95 and set(ids["w"][5:]) == {tid}
    assert np.median(errs["w"]) < 3.0


def test_long_silence_keeps_the_id() -> None:
    # a speaks, then b talks for 15 s (a silent), then a again; then a silence of 60 s
    a_on = lambda t: t < 5 or 20 <= t < 25 or t >= 85  # noqa: E731
    b_on = lambda t: 5 <= t < 20  # noqa: E731
    ids, _, states = run({"a": (lambda t: 100.0, a_on), "b": (lambda t: -20.0, b_on)}, 90.0)
    covered = [i for i in ids["a"] if i >= 0]
    assert len(set(covered)) == 1 and ids["a"][-1] == covered[0] and len(covered) > 0.9 * len(ids["a"])
    assert len(states) == 2


def test_returning_talker_who_moved_a_little() -> None:
    # seated talker shifts by 8 degrees during a 12 s silence
    ids, _, _ = run({"a": (lambda t: 10.0 if t < 5 else 18.0, lambda t: t < 5 or t > 17)}, 25.0)
    assert len(set(i for i in ids["a"] if i >= 0)) == 1


def test_crossing_talkers_keep_their_ids() -> None:
    # b walks from -40 to +40 degrees, talking, right through the place where a sits silent;
    # a talks before and after
    a_az, b_az = (lambda t: 0.0), (lambda t: -40.0 + 10.0 * (min(max(t, 3.0), 11.0) - 3.0))
    a_on = lambda t: t < 3.0 or t >= 11.5  # noqa: E731
    b_on = lambda t: 3.0 <= t < 11.0  # noqa: E731
    ids, _, _ = run({"a": (a_az, a_on), "b": (b_az, b_on)}, 15.0, seed=2)
    ia, ca = main_id(ids["a"])
    ib, cb = main_id(ids["b"])
    assert ia != ib and ca > 0.85 and cb > 0.9
    assert ia not in ids["b"] and ib not in ids["a"]  # nobody took the other's id


def test_quick_turn_taking() -> None:
    # two talkers 50 degrees apart alternate every 2 s with 0.3 s gaps
    a_on = lambda t: (t % 4.6) < 2.0  # noqa: E731
    b_on = lambda t: 2.3 <= (t % 4.6) < 4.3  # noqa: E731
    ids, _, states = run({"a": (lambda t: 10.0, a_on), "b": (lambda t: 60.0, b_on)}, 30.0, seed=4)
    ia, ca = main_id(ids["a"])
    ib, cb = main_id(ids["b"])
    assert ia != ib and ca > 0.85 and cb > 0.85 and len(states) == 2
    assert ia not in ids["b"] and ib not in ids["a"]


def test_crossing_while_both_talk() -> None:
    # Both talk at once while b walks past a. Within 20 degrees the DOA resolves only one peak,
    # at whichever talker is louder in that block, for about 4 s: direction alone cannot always
    # tell who is who then, so the test asks for the ids to survive in most of 10 such crossings.
    kept = 0
    for seed in range(10):
        rng = np.random.default_rng(seed)
        tr = AzimuthTracker()
        seen: dict[str, list[int]] = {"a": [], "b": []}
        for i in range(int(14 / STEP)):
            t = (i + 0.5) * STEP
            a, b = 20.0, -50.0 + 10.0 * t  # b passes a at t = 7 s
            if abs(a - b) > 20:
                peaks = [a + rng.normal(0, 2), b + rng.normal(0, 2)]
            else:  # too close to resolve: one peak, at whoever is louder in this block
                peaks = [(a if rng.random() < 0.5 else b) + rng.normal(0, 2)]
            states = tr.update(t, np.array(peaks), np.array([0.9] * len(peaks)), 1.0)
            for name, az in (("a", a), ("b", b)):
                if abs(a - b) > 25 and len(states) == 2:  # score only where the two are resolvable and tracked
                    best = min(states, key=lambda s: abs(angle_diff(s.azimuth_deg, az)))
                    seen[name].append(best.track_id)
        assert len(seen["a"]) > 40
        kept += seen["a"][0] == seen["a"][-1] and seen["b"][0] == seen["b"][-1] and seen["a"][0] != seen["b"][0]
    assert kept >= 8


@pytest.mark.parametrize("speed", [15.0, -15.0])
def test_wrap_around_at_180(speed: float) -> None:
    # a walker crosses the -180/+180 line (170 -> -170 or back)
    start = 160.0 if speed > 0 else -160.0
    ids, errs, _ = run({"w": (lambda t: start + speed * t, always)}, 4.0)
    tid, cover = main_id(ids["w"])
    assert cover > 0.85 and set(ids["w"][4:]) == {tid}
    assert np.median(errs["w"]) < 3.0


def test_talker_sitting_on_the_wrap_line() -> None:
    ids, errs, states = run({"a": (lambda t: 179.0, always)}, 10.0, noise_deg=3.0)
    assert len(states) == 1 and main_id(ids["a"])[1] > 0.95
    assert np.median(errs["a"]) < 1.5


def test_a_stray_peak_does_not_drag_a_silent_track() -> None:
    tr = AzimuthTracker()
    t = 0.0
    for _ in range(20):
        t += STEP
        tr.update(t, np.array([50.0]), np.array([0.9]), 1.0)
    for _ in range(30):  # silence
        t += STEP
        tr.update(t, np.array([0.0]), np.array([0.3]), 0.0)
    t += STEP
    tr.update(t, np.array([62.0]), np.array([0.9]), 1.0)  # one stray observation near the silent track
    for _ in range(6):
        t += STEP
        states = tr.update(t, np.array([0.0]), np.array([0.3]), 0.0)
    assert len(states) == 1 and abs(states[0].azimuth_deg - 50.0) < 2.0 and not states[0].active


def test_tracks_die_after_max_silence() -> None:
    cfg = TrackerConfig(max_silence_s=5.0)
    _, _, states = run({"a": (lambda t: 0.0, lambda t: t < 3)}, 10.0, config=cfg)
    assert states == []


def test_scoring_files_with_wrong_values_are_named_not_crashed_on(tmp_path: Path) -> None:
    """A hand-edited or foreign file: the line and the key at fault, as an input error; doa.jsonl's
    lists of peaks stay valid where a track's single azimuth is expected to be a number."""
    from nodes.array.evaluate import DOA_KEYS, TRACK_KEYS, EvalInputError, read_jsonl

    f = tmp_path / "tracks.jsonl"
    cases = {'{"t": 1, "track_id": 1, "azimuth_deg": "x"}': 'azimuth_deg is "x", not a number',
             '{"t": true, "track_id": 1, "azimuth_deg": 3}': "t is true, not a number",
             '{"t": 1, "track_id": 1.5, "azimuth_deg": 3}': "track_id is 1.5, not a whole number",
             '{"t": 1, "track_id": 1, "azimuth_deg": [3, 4]}': "azimuth_deg is [3, 4], not a number",
             "[1, 2]": "not a JSON object"}
    for line, said in cases.items():
        f.write_text(line + "\n")
        with pytest.raises(EvalInputError, match=re.escape(f"tracks.jsonl:1: {said}")):
            read_jsonl(f, TRACK_KEYS)
    f.write_text('{"t": 1, "azimuth_deg": [3, 4.5]}\n{"t": 2, "azimuth_deg": []}\n')
    assert [r["azimuth_deg"] for r in read_jsonl(f, DOA_KEYS)] == [[3, 4.5], []]
    f.write_text('{"t": 1, "azimuth_deg": [3, "x"]}\n')
    with pytest.raises(EvalInputError, match=re.escape('azimuth_deg is [3, "x"], not a list of numbers')):
        read_jsonl(f, DOA_KEYS)
