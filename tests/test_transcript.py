"""The revisable transcript: state, formats, the writer's journal and files, and export."""

from __future__ import annotations

import json
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
    assert rows[0] == {"session_id": "m", "speaker": "Alice Smith", "start_time": 1.25, "end_time": 3.5, "words": "Hello <world> & you", "segment_id": "s1"}


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
