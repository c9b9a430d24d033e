"""The diarisation benchmark's own measures (label persistence, the issue's target; the live errors by talker familiarity), pinned here."""

from __future__ import annotations

import sys
import time
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


def test_live_errors_are_split_by_whether_the_talker_was_known() -> None:
    # A talks 12 s, B 4 s, A again: A's second 6 s and B's turn fall in a voice's first 10 s ("new")
    ref = [(0.0, 12.0, "A"), (13.0, 17.0, "B"), (18.0, 20.0, "A")]

    def turn(tid: str, a: float, b: float, who: str) -> SimpleNamespace:
        return SimpleNamespace(turn_id=tid, t0=a, t1=b, speaker=who, overlap=False)

    history = [(6.0, turn("1", 0.0, 6.0, "x")), (12.0, turn("2", 6.0, 12.0, "y")), (17.0, turn("3", 13.0, 17.0, "y")),
               (20.0, turn("4", 18.0, 20.0, "y")), (22.0, turn("4", 18.0, 20.0, "x")),  # fixed 2 s after: right at 5 s
               (30.0, turn("2", 6.0, 12.0, "x"))]  # fixed 18 s after: still wrong at 10 s
    final = bench.seen_after(history, float("inf"))
    split = bench.live_by_familiarity(ref, history, final)
    assert split[0.0] == {"new": (16.0, 6.0), "known": (2.0, 2.0)}
    assert split[5.0] == {"new": (16.0, 6.0), "known": (2.0, 0.0)}
    assert split[10.0] == split[5.0]


def test_live_persistence_scores_the_labels_shown_at_each_mark() -> None:
    # A (0-4 s) returns 20-26 s: live it first shows a new label z, fixed at 23.5 s; the previous turn reads x throughout.
    ref = [(0.0, 4.0, "A"), (20.0, 26.0, "A")]

    def turn(tid: str, a: float, b: float, who: str) -> SimpleNamespace:
        return SimpleNamespace(turn_id=tid, t0=a, t1=b, speaker=who, overlap=False)

    history = [(4.5, turn("1", 0.0, 4.0, "x")), (20.8, turn("2", 20.0, 21.5, "z")), (22.3, turn("3", 21.5, 23.0, "z")),
               (23.5, turn("2", 20.0, 21.5, "x")), (23.5, turn("3", 21.5, 23.0, "x")), (26.5, turn("4", 23.0, 26.0, "x"))]
    seen = bench.live_persistence(ref, history)
    assert seen == {1.0: (0, 1), 2.0: (0, 1), "end": (1, 1)}
    # no label yet for the return at the mark: not kept
    assert bench.live_persistence(ref, history[:1])[1.0] == (0, 1)


def test_overlap_coverage_counts_seconds_both_talkers_are_named() -> None:
    # REF overlaps at 21-23 (A under B). Labels naming both over 21.5-23 and, wrongly, two labels at 40-41.
    hyp = _turns((20.0, 26.0, "y"), (21.5, 23.0, "x"), (40.0, 44.0, "y"), (40.0, 41.0, "x"))
    ref_s, hyp_s, both_s = bench.overlap_coverage(REF, hyp)
    assert abs(ref_s - 2.0) < 0.02 and abs(hyp_s - 2.5) < 0.02 and abs(both_s - 1.5) < 0.02
    # one talker's label twice at once is not two talkers
    assert bench.overlap_coverage(REF, _turns((20.0, 26.0, "y"), (21.0, 23.0, "y")))[1] == 0.0


def test_missed_parts_tell_dropped_speech_from_overlap_labelled_once() -> None:
    """DER's miss split in two: speech no label covers, and overlapped speech labelled with one talker; the two add
    up to DER's own miss."""
    from nodes.speaker.evaluate import der

    ref = {"m": list(REF)}
    # B's 20-26 labelled once (A under it, 21-23, is overlap labelled once: 2 s); 40-44 dropped for 1 s at 43-44;
    # 0-9 labelled right
    hyp = {"m": [(0.0, 4.0, "x"), (5.0, 9.0, "y"), (20.0, 26.0, "y"), (40.0, 43.0, "y")]}
    bare, short, total = bench.missed_parts(ref, hyp, collar=0.0)
    assert abs(total - 20.0) < 1e-6
    assert abs(bare - 1.0) < 1e-6 and abs(short - 2.0) < 1e-6
    real = der(ref, hyp)
    assert abs(real.missed * real.total - (bare + short)) < 1e-6
    # naming both talkers over the overlap leaves only the dropped second
    hyp["m"].append((21.0, 23.0, "x"))
    bare, short, _ = bench.missed_parts(ref, hyp, collar=0.0)
    assert abs(bare - 1.0) < 1e-6 and short < 1e-6


def test_bench_refuses_a_run_with_nothing_to_measure(tmp_path: Path) -> None:
    """``--meetings 0`` means the AMI excerpts alone; with ``--no-ami`` too, or a negative count, there is nothing to
    run: a usage error naming why, not a division by zero after the fact."""
    import subprocess

    script = Path(bench.__file__)
    for extra, why in ((["--meetings", "0", "--no-ami"], "nothing to run"), (["--meetings", "-1"], "--meetings must be 0 or more"),
                        (["--talkers", "0"], "--talkers must be 1 to 8"), (["--talkers", "9"], "--talkers must be 1 to 8")):
        res = subprocess.run([sys.executable, str(script), "--work", str(tmp_path), *extra], capture_output=True, text=True, timeout=120)
        assert res.returncode == 2 and why in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert not any(tmp_path.iterdir())


def test_voice_bound_names_each_true_turn_by_the_closest_true_talker() -> None:
    """The upper bound for voice: true turns and true talkers, so only the embeddings decide. A return whose turn sounds
    like someone else is lost there too; an overlapped turn counts right in the second figure (one label per moment)."""
    import numpy as np

    rng = np.random.default_rng(0)
    voice = {"A": np.eye(8)[0] * 3, "B": np.eye(8)[1] * 3, "C": np.eye(8)[2] * 3, "D": np.eye(8)[3] * 3}

    def windows(a: float, b: float, like: str) -> list[tuple[float, float, np.ndarray]]:
        return [(t, t + 1.5, voice[like] + rng.normal(0, 0.3, 8)) for t in np.arange(a, b - 1.5 + 1e-9, 0.5)]

    ref = [(0.0, 4.0, "A"), (5.0, 9.0, "B"), (10.0, 14.0, "B"), (15.0, 19.0, "C"), (20.0, 24.0, "A"), (25.0, 29.0, "B"),
           (40.0, 44.0, "C")]
    w = [x for a, b, s in ref for x in windows(a, b, s)]
    assert bench.voice_bound(w, ref) == (3, 3, 3)
    # B's return sounds like A: lost by the voice, and not excused (B spoke alone)
    w = [x for a, b, s in ref for x in windows(a, b, "A" if (a, s) == (25.0, "B") else s)]
    assert bench.voice_bound(w, ref) == (2, 2, 3)
    # the same return overlapped by D (heard once): still lost by the voice, but counted right in the second figure
    ref_ov = ref + [(26.0, 27.5, "D")]
    w_ov = w + windows(26.0, 27.5, "D")
    kept, generous, returns = bench.voice_bound(w_ov, ref_ov)
    assert (kept, returns) == (2, 3) and generous == 3
    assert bench.voice_bound([], ref) == (0, 0, 3)


def test_next_turns_kept_are_counted_by_the_silence_between() -> None:
    # A: 0-4, 5-9 (1 s of silence), 21-25 (12 s), 50-52 (25 s); the 12 s return is lost
    ref = [(0.0, 4.0, "A"), (5.0, 9.0, "A"), (21.0, 25.0, "A"), (50.0, 52.0, "A"), (30.0, 34.0, "B"), (36.0, 38.0, "B")]
    hyp = _turns((0.0, 9.0, "x"), (21.0, 25.0, "y"), (30.0, 38.0, "z"), (50.0, 52.0, "y"))
    assert bench.kept_by_silence(ref, hyp) == [(2, 2), (0, 0), (0, 1), (1, 1)]
    assert bench.persistence(ref, hyp)[:3:2] == (1, 2)  # the target's count: the 10 s and 25 s returns


def test_a_cached_meeting_with_another_talker_count_is_not_scored_as_this_one(tmp_path: Path) -> None:
    import json

    import pytest

    (tmp_path / "meeting.wav").write_bytes(b"cached")
    (tmp_path / "scenario.json").write_text(json.dumps({"talkers": [{"id": "spk1"}, {"id": "spk2"}, {"id": "spk3"}]}))
    bench.simulate(tmp_path, 1, 3, 90.0)  # the same count: the cached meeting is used
    with pytest.raises(SystemExit, match="simulated with 3 talkers, not 6: give another --work"):
        bench.simulate(tmp_path, 1, 6, 90.0)


class _SpinningDiarizer:
    """A stand-in speaker.diarizer: one turn per packet, sent at once, then ``spin`` s of this thread's CPU (a refinement pass)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def configure(self, info: object) -> None:
        pass

    def open(self) -> None:
        pass

    def process(self, port: str, packet: SimpleNamespace) -> None:
        self.emit("turns", SimpleNamespace(payload=SimpleNamespace(turn_id=packet.name)))
        start = time.thread_time()
        while time.thread_time() - start < packet.spin:
            pass

    def flush(self) -> None:
        pass


def test_queued_emissions_wait_for_the_diariser_as_live_packets_would(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import nodes.speaker.diarizer as dz

    monkeypatch.setattr(dz, "Diarizer", _SpinningDiarizer)
    monkeypatch.setattr(dz, "DiarizerParams", lambda **kw: None)
    # a packet at 0 s whose call then runs a 0.3 s pass; one at 0.1 s (waits for it); one at 1 s (the diariser is idle)
    front = {"dirs": [], "emb": [(0.0, None, SimpleNamespace(name="a", spin=0.3)), (0.1, None, SimpleNamespace(name="b", spin=0.0)),
                                 (1.0, None, SimpleNamespace(name="c", spin=0.0))]}
    history, ready = bench.queued_emissions(front)
    assert [clock for clock, _ in history] == [0.0, 0.1, 1.0]  # the media clock: as if the diariser took no time
    first = bench.first_ready(history, ready)
    assert first["a"] < 0.05  # sent before its call's pass
    assert 0.3 <= first["b"] < 0.35  # queued behind the pass
    assert 1.0 <= first["c"] < 1.05
