"""Transcribing generated speech with known text, end to end through the CLI."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import GRAPHS, ROOT, SCRIPT, run_cli, wer

pytestmark = pytest.mark.slow
REF = " ".join(t for _, t in SCRIPT)


def journal(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "transcript.jsonl").read_text().splitlines()]


def finals_text(out: Path) -> str:
    return " ".join(s["words"] for s in json.loads((out / "transcript.seglst.json").read_text()))


@pytest.mark.parametrize("graph", ["transcribe.json", "meeting.json"])
def test_transcribes_known_speech(tmp_path: Path, meeting_wav, graph: str) -> None:
    wav, conv = meeting_wav
    out = tmp_path / "out"
    res = run_cli("run", str(GRAPHS / graph), "--input", str(wav), "--out", str(out), "--set", "partials=true")
    assert res.returncode == 0, res.stderr
    for name in ("transcript.jsonl", "transcript.seglst.json", "transcript.vtt", "transcript.srt", "transcript.rttm", "metrics.json"):
        assert (out / name).stat().st_size > 0, name
    assert wer(REF, finals_text(out)) <= 0.10
    # stdout (not a terminal): every final word printed once, in plain lines ("[a - b] who: text");
    # later relabels and re-splits by the diariser come as "~ " correction blocks, and applying
    # them gives exactly the SegLST segments
    from test_console_pipe import apply_corrections

    rows = journal(out)
    lines = [x for x in res.stdout.splitlines() if x.startswith(("[", "~ "))]
    printed = [x for x in lines if x.startswith("[")]
    segs = sorted(json.loads((out / "transcript.seglst.json").read_text()), key=lambda s: s["start_time"])

    def words_of(line: str) -> str:
        body = line.split("] ", 1)[1]
        return body.split(": ", 1)[-1] if graph == "meeting.json" else body

    assert " ".join(words_of(x) for x in printed).split() == " ".join(s["words"] for s in segs).split()
    assert len(apply_corrections(lines)) == len(segs)
    if graph == "transcribe.json":  # no diariser: nothing is revised, the lines are the SegLST segments
        assert len(printed) == len(segs) and len(lines) == len(printed)
    for r in rows:
        assert {"segment_id", "status", "speaker", "t0", "t1", "text", "words", "wall"} <= set(r)
        assert r["t0"] <= r["t1"]
    # partial-to-final consistency: per segment, partials then finals (exactly one without a
    # diariser; with one, relabels and re-splits are finals of higher revision, and a
    # sub-segment that no longer exists is retracted by an empty final), revisions increasing
    segs = json.loads((out / "transcript.seglst.json").read_text())
    by_seg: dict[str, list[dict]] = {}
    for r in rows:
        by_seg.setdefault(r["segment_id"], []).append(r)
    live_ids = {sid for sid, seg_rows in by_seg.items() if seg_rows[-1]["text"].strip() or seg_rows[-1]["words"]}
    assert live_ids == {s["segment_id"] for s in segs}
    assert sum(r["status"] == "partial" for r in rows) >= len(conv.turns)
    for sid, seg_rows in by_seg.items():
        statuses = [r["status"] for r in seg_rows]
        assert statuses[-1] == "final" and "partial" not in statuses[statuses.index("final"):]
        if graph == "transcribe.json":
            assert statuses.count("final") == 1
        assert [r["revision"] for r in seg_rows] == sorted({r["revision"] for r in seg_rows})
        if sid not in live_ids:
            continue
        final = seg_rows[-1]
        words = final["words"]
        assert words and all(0 <= w["confidence"] <= 1 and w["t0"] <= w["t1"] for w in words)
        assert [w["t0"] for w in words] == sorted(w["t0"] for w in words)
        assert final["t0"] <= words[0]["t0"] and words[-1]["t1"] <= final["t1"] + 1e-6
    # final segments line up with the turns that were spoken: one per turn, except that the
    # cascade's first pass (meeting.json) may also end an utterance at a pause inside a turn
    by_turn: dict[int, list[dict]] = {}
    for s in segs:
        mid = 0.5 * (s["start_time"] + s["end_time"])
        k = next(i for i, t in enumerate(conv.turns) if t.t0 - 0.6 <= mid <= t.t1 + 0.6)
        by_turn.setdefault(k, []).append(s)
    assert sorted(by_turn) == list(range(len(conv.turns)))
    if graph == "transcribe.json":
        assert len(segs) == len(conv.turns)
    for k, turn in enumerate(conv.turns):
        ss = by_turn[k]
        assert abs(ss[0]["start_time"] - turn.t0) < 0.6 and abs(ss[-1]["end_time"] - turn.t1) < 0.6
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["nodes"]) >= {"source", "vad", "asr", "files"}
    assert metrics["nodes"]["asr"]["time_ms"]["p50"] > 0
    assert metrics["latency"]["final_s"]["count"] == len(segs)


def test_executors_give_the_same_transcript(tmp_path: Path, meeting_wav) -> None:
    wav, _ = meeting_wav
    texts = {}
    for ex in ("inline", "threaded"):
        out = tmp_path / ex
        res = run_cli("run", str(GRAPHS / "transcribe.json"), "-i", str(wav), "-o", str(out), "-e", ex, "-q")
        assert res.returncode == 0, res.stderr
        texts[ex] = [(r["segment_id"], r["status"], r["text"], r["t0"], r["t1"]) for r in journal(out)]
    assert texts["inline"] == texts["threaded"]


def test_multichannel_input_is_mixed_down(tmp_path: Path, meeting_wav) -> None:
    wav, conv = meeting_wav
    x = conv.audio
    # seven channels, each slightly delayed, at 48 kHz: resampled and mixed down
    from scipy.signal import resample_poly

    x48 = resample_poly(x, 3, 1).astype(np.float32)
    multi = np.stack([np.roll(x48, k) for k in range(7)], axis=1) * 0.8
    path = tmp_path / "array.flac"
    sf.write(path, multi, 48000)
    out = tmp_path / "out"
    res = run_cli("run", str(GRAPHS / "meeting.json"), "-i", str(path), "-o", str(out), "--set", "partials=false", "-q")
    assert res.returncode == 0, res.stderr
    assert wer(REF, finals_text(out)) <= 0.10


def test_ctrl_c_flushes_sinks_and_keeps_finals(tmp_path: Path, meeting_wav) -> None:
    wav, conv = meeting_wav
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli.main", "run", str(GRAPHS / "transcribe.json"), "-i", str(wav), "-o", str(out), "--realtime", "-q"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    # wait until two segments are final, then interrupt in the middle of the meeting
    deadline = time.time() + 60
    while time.time() < deadline:
        path = out / "transcript.jsonl"
        if path.exists() and sum(1 for r in path.read_text().splitlines() if '"final"' in r) >= 2:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    rows = journal(out)
    finals = [r for r in rows if r["status"] == "final"]
    assert 2 <= len(finals) < len(conv.turns)
    # every final in the journal is in every other file
    srt = (out / "transcript.srt").read_text()
    seglst = json.loads((out / "transcript.seglst.json").read_text())
    assert len(seglst) == len(finals)
    for r in finals:
        assert r["text"] in srt
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["run"]["interrupted"] is True
    # the run stopped mid-meeting: less media than the whole recording
    assert metrics["run"]["media_s"] < len(conv.audio) / conv.rate - 3


def test_sigterm_is_a_graceful_stop_too(tmp_path: Path, meeting_wav) -> None:
    wav, _ = meeting_wav
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli.main", "run", str(GRAPHS / "transcribe.json"), "-i", str(wav), "-o", str(out), "--realtime", "-q", "-e", "threaded"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    time.sleep(7)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert (out / "metrics.json").exists() and (out / "transcript.srt").exists()
