"""tools/small_folds.py: each fold of a small cluster is judged against the reference (a piece gone home, a participant lost)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import small_folds as sf

from nodes.speaker.kalman_ahc import Fold

# A and B talk at length; C says one short sentence; B speaks over the end of A's second turn.
REF = [(0.0, 10.0, "A"), (11.0, 20.0, "B"), (21.0, 24.0, "C"), (25.0, 35.0, "A"), (33.0, 36.0, "B"), (37.0, 45.0, "B")]


def _fold(spans: list[tuple[float, float]], into: list[tuple[float, float]]) -> Fold:
    return Fold("small", spans, into, sum(b - a for a, b in spans), -0.3, (-0.2, 0.0, -0.1, 0.0), 1.0)


def test_a_piece_joining_its_own_talker_is_right() -> None:
    assert sf.verdict(REF, _fold([(33.5, 35.0)], [(0.0, 10.0), (25.0, 33.0)]), 5.0) == ("right", "A", "A")


def test_a_short_participant_folded_into_someone_is_their_loss() -> None:
    assert sf.verdict(REF, _fold([(21.0, 24.0)], [(11.0, 20.0)]), 5.0) == ("participant", "C", "B")
    # with a lower bar C would have been a talker the fold rule does not touch: a wrong fold, not a lost participant
    assert sf.verdict(REF, _fold([(21.0, 24.0)], [(11.0, 20.0)]), 2.0)[0] == "wrong"


def test_a_piece_joining_another_talker_is_wrong_and_voices_and_silence_are_not_judged() -> None:
    assert sf.verdict(REF, _fold([(37.0, 38.0)], [(0.0, 10.0)]), 5.0) == ("wrong", "B", "A")
    assert sf.verdict(REF, _fold([(37.0, 38.0)], []), 5.0)[0] == "profile"
    assert sf.verdict(REF, _fold([(45.5, 46.0)], [(0.0, 10.0)]), 5.0)[0] == "no speech"  # not a talker who said little


def test_the_reference_says_how_much_of_a_fold_its_talker_spoke_alone() -> None:
    assert sf.alone_share(REF, "A", [(25.0, 35.0)]) == pytest.approx(0.8)
    assert sf.alone_share(REF, "C", [(21.0, 24.0)]) == 1.0
    line = sf.describe("sim1", REF, _fold([(33.0, 35.0)], [(0.0, 10.0)]), 5.0)
    assert "right" in line and "spoken alone 0%" in line and "A -> A" in line
