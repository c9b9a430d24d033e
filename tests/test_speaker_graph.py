"""The meeting graph writes a speaker-attributed transcript for array and mono input; eval diarization/transcript."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import run_cli
from sim_meetings import meeting, needs_espeak

pytestmark = needs_espeak


def _majority(rttm: Path, a: float, b: float) -> str | None:
    acc: dict[str, float] = {}
    for line in rttm.read_text().splitlines():
        f = line.split()
        t0, t1 = float(f[3]), float(f[3]) + float(f[4])
        ov = min(t1, b) - max(t0, a)
        if ov > 0:
            acc[f[7]] = acc.get(f[7], 0.0) + ov
    return max(acc.items(), key=lambda kv: kv[1])[0] if acc else None


@pytest.mark.slow
def test_array_meeting_is_diarised_and_scored(tmp_path: Path) -> None:
    sim = meeting(talkers=3, walking=1, duration=30.0, seed=3)
    out = tmp_path / "out"
    r = run_cli("run", "graphs/meeting.json", "--input", str(sim / "meeting.wav"), "--out", str(out), "--set", "console=false", "-q")
    assert r.returncode == 0, r.stderr
    for name in ("transcript.jsonl", "transcript.seglst.json", "transcript.rttm", "diarization.rttm", "tracks.jsonl"):
        assert (out / name).exists(), name
    seglst = json.loads((out / "transcript.seglst.json").read_text())
    assert len({s["speaker"] for s in seglst}) >= 2 and all(s["speaker"].startswith("spk") for s in seglst)
    # every reference turn's talker gets one label, and different talkers different labels
    ref = [line.split() for line in (sim / "reference.rttm").read_text().splitlines()]
    labels: dict[str, set[str]] = {}
    for f in ref:
        lab = _majority(out / "diarization.rttm", float(f[3]), float(f[3]) + float(f[4]))
        labels.setdefault(f[7], set()).add(lab or "-")
    assert sum(len(v) for v in labels.values()) <= len(labels) + 1, labels
    r = run_cli("eval", "diarization", "--ref", str(sim / "reference.rttm"), "--hyp", str(out / "diarization.rttm"), "--json", str(tmp_path / "der.json"))
    assert r.returncode == 0, r.stderr
    der = json.loads((tmp_path / "der.json").read_text())
    assert der["der"] < 0.3 and "DER" in r.stdout
    r = run_cli("eval", "transcript", "--ref", str(sim / "reference.seglst.json"), "--hyp", str(out / "transcript.seglst.json"),
                "--json", str(tmp_path / "wer.json"))
    assert r.returncode == 0, r.stderr
    wer = json.loads((tmp_path / "wer.json").read_text())
    assert 0 <= wer["tcpwer"]["error_rate"] < 0.8 and "cpwer" in r.stdout


@pytest.mark.slow
def test_mono_meeting_gets_speakers(tmp_path: Path, meeting_wav) -> None:
    path, conv = meeting_wav
    out = tmp_path / "out"
    r = run_cli("run", "graphs/meeting.json", "--input", str(path), "--out", str(out), "--set", "console=false", "-q")
    assert r.returncode == 0, r.stderr
    assert not (out / "tracks.jsonl").exists()
    by_talker: dict[str, set[str | None]] = {}
    for turn in conv.turns:
        by_talker.setdefault(turn.speaker, set()).add(_majority(out / "transcript.rttm", turn.t0, turn.t1))
    # the two talkers are told apart: no label is shared between their turns. (A talker may still
    # be split over several labels on 25 s of mono speech: see the bench for label persistence.)
    assert not (by_talker["alice"] & by_talker["bob"]), by_talker
    assert None not in by_talker["alice"] | by_talker["bob"]
    rows = [json.loads(line) for line in (out / "transcript.jsonl").read_text().splitlines()]
    assert all(r["speaker"] for r in rows if r["status"] == "final" and r["text"])


def test_eval_commands_reject_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.rttm"
    bad.write_text("SPEAKER x 1 zero 1.0 <NA> <NA> a <NA> <NA>\n")
    good = tmp_path / "good.rttm"
    good.write_text("SPEAKER x 1 0.0 2.0 <NA> <NA> a <NA> <NA>\nSPEAKER x 1 2.5 2.0 <NA> <NA> b <NA> <NA>\n")
    r = run_cli("eval", "diarization", "--ref", str(good), "--hyp", str(bad))
    assert r.returncode == 3 and "bad.rttm:1" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("eval", "diarization", "--ref", str(tmp_path / "missing.rttm"), "--hyp", str(good))
    assert r.returncode == 3 and "no such file" in r.stderr
    r = run_cli("eval", "diarization", "--ref", str(good), "--hyp", str(good))
    assert r.returncode == 0 and "0.0%" in r.stdout
    two = tmp_path / "two.rttm"  # a hypothesis for another pair of recordings: scored, but said so
    two.write_text("SPEAKER y 1 0.0 2.0 <NA> <NA> a <NA> <NA>\nSPEAKER z 1 0.0 2.0 <NA> <NA> a <NA> <NA>\n")
    r = run_cli("eval", "diarization", "--ref", str(good), "--hyp", str(two))
    assert r.returncode == 0 and "no turns for 1 of the reference's 1 files (x)" in r.stdout and "lacks, not scored: y, z" in r.stdout
    seg = tmp_path / "ref.seglst.json"
    seg.write_text(json.dumps([{"session_id": "x", "speaker": "a", "start_time": 0, "end_time": 2, "words": "hello there"}]))
    r = run_cli("eval", "transcript", "--ref", str(seg), "--hyp", str(good))
    assert r.returncode == 3 and "not JSON" in r.stderr
    r = run_cli("eval", "transcript", "--ref", str(seg), "--hyp", str(seg))
    assert r.returncode == 0 and "0.0%" in r.stdout
    # nothing recognised, or a transcript of another meeting: scored as deletions and said so, no crash
    empty = tmp_path / "empty.seglst.json"
    empty.write_text("[]")
    r = run_cli("eval", "transcript", "--ref", str(seg), "--hyp", str(empty))
    assert r.returncode == 0 and "100.0%" in r.stdout and "holds no segments" in r.stdout, r.stderr
    other = tmp_path / "other.seglst.json"
    other.write_text(json.dumps([{"session_id": s, "speaker": "a", "start_time": 0, "end_time": 2, "words": "hello"} for s in "yz"]))
    r = run_cli("eval", "transcript", "--ref", str(seg), "--hyp", str(other))
    assert r.returncode == 0 and "(2 errors / 2 reference words)" in r.stdout, r.stderr
    assert "no segments for session(s) x" in r.stdout and "lacks, not scored: y, z" in r.stdout


def test_eval_readers_name_bad_times(tmp_path: Path) -> None:
    """NaN, inf, negative or non-number times, and segments ending before they start: the file,
    the line or segment, and what is wrong (they used to vanish from the scores or crash the metric)."""
    from nodes.speaker.evaluate import EvalInputError, read_rttm, read_seglst, read_uem

    f = tmp_path / "x"
    for text, said in (("SPEAKER x 1 nan 2 <NA> <NA> a <NA> <NA>", "x:1: start must be a number"),
                       ("SPEAKER x 1 0 inf <NA> <NA> a <NA> <NA>", "x:1: duration must be a number"),
                       ("SPEAKER x 1 -1 2 <NA> <NA> a <NA> <NA>", "not below zero: '-1'")):
        f.write_text(text + "\n")
        with pytest.raises(EvalInputError, match=re.escape(said)):
            read_rttm(f)
    f.write_text(";; regions\nx 1 5 2\n")
    with pytest.raises(EvalInputError, match=re.escape("x:2: the region must end after it starts: 5.0 to 2.0")):
        read_uem(f)
    for seg, said in (({"start_time": "abc", "end_time": 2, "words": "hi"}, "segment 0: start_time must be a number"),
                      ({"start_time": 5, "end_time": 2, "words": "hi"}, "segment 0 ends (2.0) before it starts (5.0)"),
                      ({"start_time": 0, "end_time": 2, "words": None}, "words must be a string, not null")):
        f.write_text(json.dumps([{"speaker": "a", **seg}]))
        with pytest.raises(EvalInputError, match=re.escape(said)):
            read_seglst(f)


def test_meeting_graph_passes_the_number_of_people_to_the_diariser() -> None:
    """`--set speakers=N` reaches speaker.diarizer (its refinement then keeps at most N); unset means unknown."""
    import nodes  # noqa: F401  (registers node types)
    from pipeline.graph_load import load_graph

    told = load_graph("graphs/meeting.json", {"input": "x.wav", "speakers": "3"}, strict=False).nodes["diarize"].params
    assert told.speakers == 3
    assert load_graph("graphs/meeting.json", {"input": "x.wav"}, strict=False).nodes["diarize"].params.speakers is None
    for bad in ("0", "2.5", "many", "11"):  # 11: more than the diariser's max_speakers (10)
        r = run_cli("validate", "graphs/meeting.json", "--input", "x.wav", "--set", f"speakers={bad}")
        assert r.returncode != 0 and "speakers" in r.stderr and "Traceback" not in r.stderr, (bad, r.stderr)
    r = run_cli("validate", "graphs/meeting.json", "--input", "x.wav", "--set", "speakers=3", "--set", "refine=false")
    assert r.returncode != 0 and "acts through refinement" in r.stderr and "Traceback" not in r.stderr, r.stderr
