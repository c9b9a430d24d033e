"""tools/live_labels.py: label delays from turns stamped as they arrived, and its --param parsing (no live run here)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

from live_labels import label_delays, parse_changes

from pipeline import SpeakerTurn


def test_delays_count_each_reference_turn_from_its_first_label() -> None:
    ref = [(1.0, 3.0, "A"), (4.0, 6.0, "B")]
    start = 1000.0  # the wall time the recording started
    arrived = [
        (start + 1.9, SpeakerTurn("dz-000000", "spk1", 1.0, 1.75)),  # A's first label, 0.9 s after A began
        (start + 2.4, SpeakerTurn("dz-000001", "spk1", 1.75, 2.25)),
        (start + 5.2, SpeakerTurn("dz-000002", "spk2", 4.0, 4.75)),  # B's, 1.2 s after
        (start + 9.0, SpeakerTurn("dz-000002", "spk1", 4.0, 4.75, revision=1)),  # a later relabel: not when B's label came
    ]
    turns, delays = label_delays(arrived, start, ref)
    assert sorted(delays.round(3).tolist()) == [0.9, 1.2]
    assert {t.turn_id: t.speaker for t in turns}["dz-000002"] == "spk1"  # the final turns carry the newest revision


def test_params_parse_as_json_or_text() -> None:
    assert parse_changes(["asr.threads=1", "diarize.method=particle", "asr.partials=false"]) == {
        "asr": {"threads": 1, "partials": False}, "diarize": {"method": "particle"}}
    for bad in ["threads=1", "asr.threads", ".x=1"]:
        with pytest.raises(ValueError, match="NODE.NAME=VALUE"):
            parse_changes([bad])
