"""tools/lost_returns.py: each lost return is told apart by which turn was misnamed and why."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import lost_returns as lr

from nodes.sim.scenario import Scenario

# A, B and C speak; A comes back twice after >= 10 s, B once under C's long turn.
REF = [(0.0, 4.0, "A"), (5.0, 9.0, "B"), (10.0, 14.0, "C"), (20.0, 24.0, "A"), (30.0, 40.0, "C"), (31.0, 33.0, "B"),
       (50.0, 54.0, "A")]
SCENE = Scenario.model_validate({
    "duration_s": 60.0, "room": {"size": [6.0, 5.0, 3.0], "rt60": 0.4}, "noise": {"snr_db": None}, "utterances": [],
    "array": {"mics": [[0.0, 0.0, 0.0]], "centre": [3.0, 2.5, 0.75]},
    "talkers": [
        {"id": "A", "voice": "en-us+m3", "position": [4.0, 2.5, 1.6]},
        {"id": "B", "voice": "en-gb-x-rp+m1", "position": [3.0, 3.5, 1.6]},
        {"id": "C", "voice": "en-us+klatt", "trajectory": [[0.0, 2.0, 2.5, 1.6], [60.0, 3.0, 1.5, 1.6]]},
    ]})


def _turns(*rows: tuple[float, float, str]) -> list[SimpleNamespace]:
    return [SimpleNamespace(t0=a, t1=b, speaker=s) for a, b, s in rows]


def test_a_return_given_another_talkers_label_costs_two_returns_and_says_which_turn() -> None:
    # A's middle turn is named as B: A's return to it and the return after it are both lost
    hyp = _turns((0.0, 4.0, "a"), (5.0, 9.0, "b"), (10.0, 14.0, "c"), (20.0, 24.0, "b"), (30.0, 40.0, "c"), (50.0, 54.0, "a"))
    lost = lr.lost_returns(REF, hyp)
    by_start = {x.back[0]: x for x in lost if x.talker == "A"}
    assert set(by_start) == {20.0, 50.0}
    assert by_start[20.0].wrong == "return" and by_start[50.0].wrong == "before"
    assert by_start[20.0].cause == "another talker's label"
    line = lr.explain(by_start[20.0], REF, SCENE)
    assert "b (B's: en-gb-x-rp+m1, 90 deg away)" in line and "alone 100%" in line


def test_a_return_spoken_under_another_talker_is_told_so() -> None:
    hyp = _turns((0.0, 4.0, "a"), (5.0, 9.0, "b"), (10.0, 14.0, "c"), (20.0, 24.0, "a"), (30.0, 40.0, "c"), (50.0, 54.0, "a"))
    (lost,) = lr.lost_returns(REF, hyp)
    assert lost.talker == "B" and lost.alone == 0.0 and lost.cause == "under another talker"
    assert "over it C (" in lr.explain(lost, REF, SCENE)


def test_a_spurious_label_is_nobodys() -> None:
    hyp = _turns((0.0, 4.0, "a"), (5.0, 9.0, "b"), (10.0, 14.0, "c"), (20.0, 24.0, "a"), (30.0, 31.0, "c"), (31.0, 33.0, "b"),
                 (33.0, 40.0, "c"), (50.0, 54.0, "z"))
    (lost,) = lr.lost_returns(REF, hyp)
    assert lost.talker == "A" and lost.cause == "a label of its own" and "z (nobody's)" in lr.explain(lost, REF, SCENE)


def test_the_voice_alone_says_whether_the_encoder_could_have_named_the_misnamed_turn() -> None:
    hyp = _turns((0.0, 4.0, "a"), (5.0, 9.0, "b"), (10.0, 14.0, "c"), (20.0, 24.0, "b"), (30.0, 40.0, "c"), (50.0, 54.0, "a"))
    alike = {(20.0, 24.0, "A"): "B"}  # A's middle turn sounds more like B than like A's other turns
    lost = {x.back[0]: x for x in lr.lost_returns(REF, hyp, voice=alike) if x.talker == "A"}
    assert lost[20.0].voice_says == "B" and lost[50.0].voice_says == "B"  # the misnamed turn is the same one
    assert "by voice alone: B's (en-gb-x-rp+m1)" in lr.explain(lost[20.0], REF, SCENE)
    told = {x.back[0]: x for x in lr.lost_returns(REF, hyp, voice={(20.0, 24.0, "A"): "A"}) if x.talker == "A"}
    assert told[20.0].voice_says == "theirs" and "by voice alone: theirs" in lr.explain(told[20.0], REF, SCENE)
    assert {x.voice_says for x in lr.lost_returns(REF, hyp)} == {"?"}  # no windows: nothing to say


def test_missing_cache_is_a_clear_message(tmp_path: Path, capsys) -> None:
    sys.argv = ["lost_returns.py", "--work", str(tmp_path), "--first", "3", "--meetings", "1"]
    assert lr.main() == 2
    assert "run tools/bench_diarization.py --first 3" in capsys.readouterr().err


def test_returns_lost_are_counted_by_whether_the_talker_walks() -> None:
    from collections import Counter

    mobility = Counter({(True, True): 97, (True, False): 3, (False, True): 199, (False, False): 1})
    assert lr.by_mobility(mobility) == "returns lost by who returns: walkers 3 of 100 (3.0%), seated talkers 1 of 200 (0.5%)"
    assert lr.by_mobility(Counter()) == "returns lost by who returns: walkers 0 of 0, seated talkers 0 of 0"
