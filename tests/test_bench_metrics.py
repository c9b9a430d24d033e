"""The diarisation benchmark's label-persistence measure: the issue's target number comes from it, so it is pinned here."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import bench_diarization as bench  # noqa: E402


def _turns(*rows: tuple[float, float, str]) -> list[SimpleNamespace]:
    return [SimpleNamespace(t0=a, t1=b, speaker=s) for a, b, s in rows]


# A speaks, B speaks, both are silent >= 10 s, then A returns under B's long turn and B returns alone.
REF = [(0.0, 4.0, "A"), (5.0, 9.0, "B"), (20.0, 26.0, "B"), (21.0, 23.0, "A"), (40.0, 44.0, "B")]


def test_returns_kept_when_labels_persist() -> None:
    hyp = _turns((0.0, 4.0, "x"), (5.0, 9.0, "y"), (20.0, 21.0, "y"), (21.0, 23.0, "x"), (23.0, 26.0, "y"), (40.0, 44.0, "y"))
    assert bench.persistence(REF, hyp) == (3, 3, 3, 0)


def test_a_return_under_another_talker_is_lost_and_counted_as_overlapped() -> None:
    # one label per moment: the louder B keeps 20-26, so A's return looks relabelled
    hyp = _turns((0.0, 4.0, "x"), (5.0, 9.0, "y"), (20.0, 26.0, "y"), (40.0, 44.0, "y"))
    kept, own, returns, lost_overlapped = bench.persistence(REF, hyp)
    assert (kept, returns, lost_overlapped) == (2, 3, 1)


def test_a_merged_label_is_kept_but_not_own() -> None:
    # everyone one label: every return "keeps" it, but only the talker DER maps to it owns it
    hyp = _turns((0.0, 4.0, "x"), (5.0, 9.0, "x"), (20.0, 26.0, "x"), (40.0, 44.0, "x"))
    kept, own, returns, lost_overlapped = bench.persistence(REF, hyp)
    assert (kept, returns, lost_overlapped) == (3, 3, 0)
    assert own < kept


def test_alone_share() -> None:
    assert bench._alone_share(REF, "A", 21.0, 23.0) == 0.0
    assert abs(bench._alone_share(REF, "B", 20.0, 26.0) - 4.0 / 6.0) < 1e-9
    assert bench._alone_share(REF, "B", 40.0, 44.0) == 1.0
