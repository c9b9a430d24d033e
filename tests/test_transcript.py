"""The revisable transcript: state, formats, the writer's journal and files, and export."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from nodes.transcript.formats import FORMATS, rttm, seglst, srt, webvtt
from nodes.transcript.state import TranscriptState
from nodes.transcript.writer import TranscriptWriter, WriterParams
from pipeline import Packet, RunContext, TranscriptUpdate, Word


def upd(sid: str, status: str, t0: float, t1: float, text: str, rev: int, speaker: str | None = None) -> TranscriptUpdate:
    words = [Word(w, t0 + i * 0.3, t0 + i * 0.3 + 0.25, 0.9) for i, w in enumerate(text.split())] if status == "final" else []
    return TranscriptUpdate(sid, status, t0, t1, text, words, speaker=speaker, revision=rev)  # type: ignore[arg-type]


def test_state_keeps_newest_revision_and_handles_retraction() -> None:
    s = TranscriptState()
    assert not s.apply(upd("a", "partial", 0, 1, "hel", 1))
    assert s.apply(upd("a", "final", 0, 1, "hello there", 2))
    assert not s.apply(upd("a", "partial", 0, 1, "stale", 1))  # older revision ignored
    assert s.apply(upd("b", "final", 2, 3, "second", 1))
    assert s.apply(upd("a", "final", 0, 1, "hello there", 3, speaker="S2"))  # relabel
    assert [u.speaker for u in s.finals()] == ["S2", None]
    assert s.apply(TranscriptUpdate("b", "final", 2, 3, "", [], revision=2))  # retraction
    assert [u.segment_id for u in s.finals()] == ["a"]


def test_formats_render_speakers_times_and_escapes() -> None:
    finals = [upd("s1", "final", 1.25, 3.5, "Hello <world> & you", 1, "Alice Smith"), upd("s2", "final", 61.0, 62.2, "next -->", 1)]
    vtt = webvtt(finals, "m")
    assert vtt.startswith("WEBVTT\n\ns1\n00:00:01.250 --> 00:00:03.500\n<v Alice Smith>Hello &lt;world&gt; &amp; you\n")
    assert "00:01:01.000 --> 00:01:02.200\nnext --&gt;\n" in vtt  # no literal arrow inside a cue
    s = srt(finals, "m")
    assert s.startswith("1\n00:00:01,250 --> 00:00:03,500\nAlice Smith: Hello <world> & you\n\n2\n")
    assert rttm(finals, "my meeting").splitlines() == [
        "SPEAKER my_meeting 1 1.250 2.250 <NA> <NA> Alice_Smith <NA> <NA>",
        "SPEAKER my_meeting 1 61.000 1.200 <NA> <NA> unknown <NA> <NA>",
    ]
    rows = json.loads(seglst(finals, "m"))
    assert rows[0] == {"session_id": "m", "speaker": "Alice Smith", "start_time": 1.25, "end_time": 3.5, "words": "Hello <world> & you", "segment_id": "s1",
                       "word_times": [["Hello", 1.25, 1.5], ["<world>", 1.55, 1.8], ["&", 1.85, 2.1], ["you", 2.15, 2.4]]}


def test_seglst_is_readable_by_meeteval() -> None:
    meeteval = pytest.importorskip("meeteval")
    finals = [upd("s1", "final", 0, 2, "hello there", 1, "A"), upd("s2", "final", 2, 4, "general kenobi", 1, "B")]
    data = meeteval.io.SegLST(json.loads(seglst(finals, "m")))
    res = meeteval.wer.cpwer(data, data)
    assert res["m"].error_rate == 0 and res["m"].length == 4


def _writer(tmp_path: Path, **params) -> tuple[TranscriptWriter, RunContext]:
    ctx = RunContext()
    w = TranscriptWriter("files", WriterParams(dir=str(tmp_path), **params), ctx)
    w.configure({})
    w.open()
    return w, ctx


def test_writer_journals_every_update_and_keeps_files_current(tmp_path: Path) -> None:
    w, ctx = _writer(tmp_path, formats=["jsonl", "seglst", "vtt", "srt", "rttm", "stm", "ctm"])
    w.process("transcript", Packet(1, 1, upd("a", "partial", 0, 1, "hel", 1)))
    assert not (tmp_path / "transcript.srt").exists()  # files hold finals only
    w.process("transcript", Packet(2, 2, upd("a", "final", 0, 1.5, "hello there", 2)))
    # the final is on disk in every format before the run ends
    assert "hello there" in (tmp_path / "transcript.srt").read_text()
    assert "hello there" in (tmp_path / "transcript.seglst.json").read_text()
    w.process("transcript", Packet(3, 3, upd("a", "final", 0, 1.5, "hello there", 3, speaker="S1")))
    assert "S1: hello there" in (tmp_path / "transcript.srt").read_text()  # relabel reached the files
    lines = [json.loads(x) for x in (tmp_path / "transcript.jsonl").read_text().splitlines()]
    assert [x["status"] for x in lines] == ["partial", "final", "final"]
    for x in lines:
        assert {"segment_id", "status", "speaker", "t0", "t1", "text", "words", "wall"} <= set(x)
    assert lines[1]["words"][0] == {"text": "hello", "t0": 0.0, "t1": 0.25, "confidence": 0.9}
    w.flush()
    w.close()
    ctm = (tmp_path / "transcript.ctm").read_text().split()
    assert ctm[:6] == ["meeting", "1", "0.000", "0.250", "hello", "0.9000"]
    lat = ctx.latency.to_json()
    assert lat["first_partial_s"]["count"] == 1 and lat["final_s"]["count"] == 1


def test_writer_reports_unwritable_folder(tmp_path: Path) -> None:
    from pipeline import OutputError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot write to"):
        _writer(blocker / "sub")


def test_export_rebuilds_files_from_a_journal_cut_mid_line(tmp_path: Path) -> None:
    from pipeline.cli.cmd_export import export_journal

    w, _ = _writer(tmp_path)
    for i in range(3):
        w.process("transcript", Packet(i, i, upd(f"s{i}", "final", i, i + 0.5, f"segment number {i}", 1)))
    w.close()
    journal = tmp_path / "transcript.jsonl"
    journal.write_text(journal.read_text() + '{"segment_id": "s3", "stat')  # the crash
    out = tmp_path / "rebuilt"
    written = export_journal(journal, list(FORMATS), out, None)
    assert len(written) == len(FORMATS)
    assert (out / "transcript.srt").read_text() == (tmp_path / "transcript.srt").read_text()


def _ref_and_hyp(tmp_path: Path, hyp_shift: float) -> tuple[Path, Path]:
    """A reference from meetflow simulate (one long segment, word times) and meetflow's own
    SegLST of the same words, its word times shifted by ``hyp_shift`` seconds."""
    ref = [{"session_id": "m", "speaker": "spk1", "start_time": 0.0, "end_time": 20.0, "words": "Alpha, beta. Gamma delta!",
            "word_times": [["Alpha", 0.0, 0.4], ["beta", 0.5, 0.9], ["Gamma", 18.0, 18.6], ["delta", 19.5, 20.0]]}]
    words = [Word(w, a + hyp_shift, b + hyp_shift, 0.9) for w, a, b in (("alpha,", 0.0, 0.4), ("beta.", 0.5, 0.9), ("gamma", 18.0, 18.6), ("delta", 19.5, 20.0))]
    hyp = [TranscriptUpdate("a", "final", 0.0, 20.0, "alpha, beta. gamma delta", words, speaker="spk7", revision=1)]
    (tmp_path / "ref.json").write_text(json.dumps(ref))
    (tmp_path / "hyp.json").write_text(seglst(hyp, "m"))
    return tmp_path / "ref.json", tmp_path / "hyp.json"


def _eval(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, dict]:
    from pipeline.cli.main import main

    out = args[args.index("--json") + 1] if "--json" in args else None
    rc = main(["eval", "transcript", *args])
    captured = capsys.readouterr()
    return rc, captured.out + captured.err, json.loads(Path(out).read_text()) if out and rc == 0 else {}


def test_eval_transcript_scores_at_real_word_times(tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    """tcpWER uses the word times both files carry: a hypothesis whose words sit 10 s from
    where they were spoken loses them, which MeetEval's in-segment estimate cannot see."""
    pytest.importorskip("meeteval")
    ref, hyp = _ref_and_hyp(tmp_path, 0.0)
    rc, text, res = _eval(capsys, "--ref", str(ref), "--hyp", str(hyp), "--json", str(tmp_path / "s.json"))
    assert rc == 0 and res["cpwer"]["error_rate"] == 0 and res["tcpwer"]["error_rate"] == 0
    assert "mean word length" not in caplog.text  # MeetEval's warning about a 20 s "word" (a segment) is gone
    assert "word times real" in text and res["word_times"]["hyp"] == {"timed": 1, "untimed": 0, "mismatched": 0}
    ref, hyp = _ref_and_hyp(tmp_path, 10.0)
    rc, text, res = _eval(capsys, "--ref", str(ref), "--hyp", str(hyp), "--json", str(tmp_path / "s.json"))
    assert res["cpwer"]["error_rate"] == 0 and res["tcpwer"]["errors"] == 8  # every word 10 s off: deleted and inserted
    rc, text, res = _eval(capsys, "--ref", str(ref), "--hyp", str(hyp), "--segment-times", "--json", str(tmp_path / "s.json"))
    assert res["tcpwer"]["errors"] == 0 and "word times estimated" in text and res["word_times"] is None
    assert "The mean word length is 20.00 seconds" in caplog.text  # scored by segments, as before
    # as written (no normalisation): the segment's own tokens, at their word times
    rc, text, res = _eval(capsys, "--ref", str(hyp), "--hyp", str(hyp), "--no-normalize", "--json", str(tmp_path / "s.json"))
    assert res["tcpwer"]["error_rate"] == 0 and res["tcpwer"]["length"] == 4 and "word times real" in text


def test_eval_transcript_keeps_segment_times_where_word_times_are_missing_or_wrong(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("meeteval")
    ref, _ = _ref_and_hyp(tmp_path, 0.0)
    other = tmp_path / "other.json"  # another tool's SegLST: no word times; one segment's do not spell its words
    other.write_text(json.dumps([{"session_id": "m", "speaker": "x", "start_time": 0.0, "end_time": 1.0, "words": "alpha beta"},
                                 {"session_id": "m", "speaker": "x", "start_time": 18.0, "end_time": 20.0, "words": "gamma delta",
                                  "word_times": [["gamma", 18.0, 18.6], ["epsilon", 19.5, 20.0]]}]))
    rc, text, res = _eval(capsys, "--ref", str(ref), "--hyp", str(other), "--json", str(tmp_path / "s.json"))
    assert rc == 0 and res["tcpwer"]["error_rate"] == 0
    assert "reference real, hypothesis estimated" in text and "word_times of 1 segment(s) do not spell their words" in text
    bad = tmp_path / "bad.json"
    for wt, said in (([["a", 2.0, 1.0]], "word_times[0] ends (1.0) before it starts (2.0)"), ([["a", "x", 1.0]], "times must be numbers"),
                     ([["a", 1.0]], "must be [word, start, end]"), ("a 1 2", "must be a list")):
        bad.write_text(json.dumps([{"speaker": "x", "start_time": 0, "end_time": 2, "words": "a", "word_times": wt}]))
        rc, text, _ = _eval(capsys, "--ref", str(ref), "--hyp", str(bad))
        assert rc == 3 and re.search(re.escape("bad.json: segment 0") + ".*" + re.escape(said), text), text


def test_split_into_words_pairs_tokens_as_written() -> None:
    from nodes.transcript.wordlevel import split_into_words

    seg = {"session_id": "m", "speaker": "a", "start_time": 0, "end_time": 2, "words": "Hello, world!", "segment_id": "s1",
           "word_times": [["Hello", 0.1, 0.5], ["world", 0.6, 1.0]]}
    rows, counts = split_into_words([seg])
    assert counts == {"timed": 1, "untimed": 0, "mismatched": 0}
    assert rows == [{"session_id": "m", "speaker": "a", "segment_id": "s1", "start_time": 0.1, "end_time": 0.5, "words": "Hello"},
                    {"session_id": "m", "speaker": "a", "segment_id": "s1", "start_time": 0.6, "end_time": 1.0, "words": "world"}]
    rows, _ = split_into_words([seg], as_written=True)
    assert [r["words"] for r in rows] == ["Hello,", "world!"]
    seg2 = dict(seg, words="well-known", word_times=[["well", 0.1, 0.3], ["known", 0.3, 0.6]])
    assert split_into_words([seg2])[1]["timed"] == 1  # the same words once normalised
    assert split_into_words([seg2], as_written=True)[1]["mismatched"] == 1  # no token per timed word: kept whole
