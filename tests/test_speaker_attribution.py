"""Speaker attribution of the transcript: words get the speaker active at their time; relabels reach every sink."""

from __future__ import annotations

import json
import time
from pathlib import Path

from nodes.speaker.attribute import AttributeParams, SpeakerAttribution
from nodes.speaker.turns_writer import TurnsWriter, TurnsWriterParams
from nodes.transcript.state import TranscriptState
from nodes.transcript.writer import TranscriptWriter, WriterParams
from pipeline import Packet, RunContext, SpeakerTurn, StreamInfo, TranscriptUpdate, Word


def _words(*spec: tuple[str, float, float]) -> list[Word]:
    return [Word(t, a, b, 0.9) for t, a, b in spec]


def _turn(i: int, spk: str, t0: float, t1: float, rev: int = 0) -> SpeakerTurn:
    return SpeakerTurn(f"dz-{i:06d}", spk, t0, t1, 30.0 * i, None, rev)


def _chain(tmp_path: Path) -> tuple[SpeakerAttribution, list[TranscriptUpdate], TranscriptWriter, TurnsWriter]:
    """attribute -> [collector, transcript.writer]; turns -> turns_writer; every output captured."""
    ctx = RunContext()
    attr = SpeakerAttribution("attribute", AttributeParams(), ctx)
    attr.configure({"transcript": StreamInfo(), "turns": StreamInfo()})
    attr.open()
    writer = TranscriptWriter("files", WriterParams(dir=str(tmp_path), formats=["jsonl", "seglst", "vtt", "srt", "rttm", "stm", "ctm"]), ctx)
    writer.configure({"transcript": StreamInfo()})
    writer.open()
    turns = TurnsWriter("turns", TurnsWriterParams(dir=str(tmp_path)), ctx)
    turns.configure({"turns": StreamInfo()})
    turns.open()
    out: list[TranscriptUpdate] = []

    def emit(port: str, packet: Packet) -> None:
        out.append(packet.payload)
        writer.process("transcript", packet)

    attr.emit = emit  # type: ignore[method-assign]
    return attr, out, writer, turns


def _send_turn(attr: SpeakerAttribution, turns: TurnsWriter, turn: SpeakerTurn) -> None:
    p = Packet(turn.t0, turn.t1, turn)
    attr.process("turns", p)
    turns.process("turns", p)


def test_words_take_the_active_speaker_and_segments_split(tmp_path: Path) -> None:
    attr, out, writer, turns = _chain(tmp_path)
    for i, (spk, a, b) in enumerate([("spk1", 0.0, 0.5), ("spk1", 0.5, 1.0), ("spk1", 1.0, 1.5), ("spk2", 1.5, 2.0), ("spk2", 2.0, 2.5), ("spk2", 2.5, 3.0)]):
        _send_turn(attr, turns, _turn(i, spk, a, b))
    attr.process("transcript", Packet(0.8, 0.8, TranscriptUpdate("asr-1", "partial", 0.0, 0.8, "hello there", [], revision=1)))
    words = _words(("hello", 0.1, 0.4), ("there", 0.5, 0.9), ("good", 1.0, 1.3), ("morning", 1.6, 2.0), ("to", 2.1, 2.3), ("you", 2.4, 2.8))
    attr.process("transcript", Packet(3.0, 3.0, TranscriptUpdate("asr-1", "final", 0.1, 2.8, "hello there good morning to you", words, revision=2)))
    writer.flush()
    state = TranscriptState.from_updates(out)
    finals = state.finals()
    assert [(u.segment_id, u.speaker, u.text) for u in finals] == [("asr-1.0", "spk1", "hello there good"), ("asr-1.1", "spk2", "morning to you")]
    assert all(w.t0 >= finals[1].t0 for w in finals[1].words)
    assert not state.partials()  # the partial shown under 'asr-1' was retracted when the segment split
    seglst = json.loads((tmp_path / "transcript.seglst.json").read_text())
    assert [(s["speaker"], s["words"]) for s in seglst] == [("spk1", "hello there good"), ("spk2", "morning to you")]


def test_relabels_reach_every_sink(tmp_path: Path) -> None:
    attr, out, writer, turns = _chain(tmp_path)
    for i, (a, b) in enumerate([(0.0, 1.0), (1.0, 2.0), (5.0, 6.0), (6.0, 7.0)]):
        _send_turn(attr, turns, _turn(i, "spk1", a, b))
    attr.process("transcript", Packet(2.5, 2.5, TranscriptUpdate("asr-1", "final", 0.2, 1.9, "one two", _words(("one", 0.2, 0.8), ("two", 1.2, 1.9)), revision=1)))
    attr.process("transcript", Packet(7.5, 7.5, TranscriptUpdate("asr-2", "final", 5.1, 6.9, "three four", _words(("three", 5.1, 5.8), ("four", 6.2, 6.9)), revision=1)))
    # a refinement pass decides the second segment was another talker, and half of the first one too
    for i, (a, b) in [(2, (5.0, 6.0)), (3, (6.0, 7.0)), (1, (1.0, 2.0))]:
        _send_turn(attr, turns, _turn(i, "spk2", a, b, rev=1))
    _send_turn(attr, turns, _turn(3, "spk1", 6.0, 7.0, rev=0))  # a stale revision is ignored
    writer.flush()
    turns.flush()
    writer.close()
    final = {u.segment_id: u for u in TranscriptState.from_updates(out).finals()}
    assert {k: (u.speaker, u.text) for k, u in final.items()} == {"asr-1.0": ("spk1", "one"), "asr-1.1": ("spk2", "two"), "asr-2": ("spk2", "three four")}
    # every revision is higher than the one it replaces, per segment id
    revs: dict[str, int] = {}
    for u in out:
        assert u.revision > revs.get(u.segment_id, -1)
        revs[u.segment_id] = u.revision
    # the journal replays to the same state; every rendered format carries the relabels
    journal = [TranscriptUpdate.from_json(json.loads(line)) for line in (tmp_path / "transcript.jsonl").read_text().splitlines()]
    assert {u.segment_id: u.speaker for u in TranscriptState.from_updates(journal).finals()} == {k: u.speaker for k, u in final.items()}
    rttm = (tmp_path / "transcript.rttm").read_text().split("\n")
    assert [line.split()[7] for line in rttm if line] == ["spk1", "spk2", "spk2"]
    assert "<v spk2>three four" in (tmp_path / "transcript.vtt").read_text()
    assert "spk2: three four" in (tmp_path / "transcript.srt").read_text()
    assert [line.split()[2] for line in (tmp_path / "transcript.stm").read_text().splitlines()] == ["spk1", "spk2", "spk2"]
    seglst = json.loads((tmp_path / "transcript.seglst.json").read_text())
    assert [s["speaker"] for s in seglst] == ["spk1", "spk2", "spk2"]
    dz = [line.split() for line in (tmp_path / "diarization.rttm").read_text().splitlines()]
    assert [(float(f[3]), f[7]) for f in dz] == [(0.0, "spk1"), (1.0, "spk2"), (5.0, "spk2")]


def test_words_before_any_turn_take_the_nearest_one(tmp_path: Path) -> None:
    attr, out, _, turns = _chain(tmp_path)
    attr.process("transcript", Packet(1.0, 1.0, TranscriptUpdate("asr-1", "final", 0.0, 0.9, "early", _words(("early", 0.0, 0.9)), revision=1)))
    assert out[-1].speaker is None  # nobody labelled yet
    _send_turn(attr, turns, _turn(0, "spk3", 1.2, 2.0))  # a late turn nearby: the segment is re-sent with a speaker
    assert out[-1].segment_id == "asr-1" and out[-1].speaker == "spk3" and out[-1].revision > out[0].revision


def test_turns_writer_settles_old_turns_and_keeps_relabelling_new_ones(tmp_path: Path) -> None:
    """A long meeting: turns past settle_s are written once and let go; newer ones still follow relabels."""
    writer = TurnsWriter("turns", TurnsWriterParams(dir=str(tmp_path), settle_s=60.0, every_s=5.0), RunContext())
    writer.configure({"turns": StreamInfo()})
    writer.open()
    for i in range(100):  # 200 s of alternating two-second turns
        t = _turn(i, f"spk{i % 2 + 1}", 2.0 * i, 2.0 * i + 1.5)
        writer.process("turns", Packet(t.t0, t.t1, t))
    assert len(writer._turns) <= 35  # only the last ~60 s (plus one rewrite period) are held
    writer.process("turns", Packet(199.5, 199.5, _turn(99, "spk1", 198.0, 199.5, rev=1)))  # a late relabel of a held turn
    writer.flush()
    rows = [line.split() for line in (tmp_path / "diarization.rttm").read_text().splitlines()]
    assert len(rows) == 100  # every turn exactly once, settled or not
    got = sorted((round(float(r[3]), 3), r[7]) for r in rows)
    assert got == [(2.0 * i, "spk1" if i == 99 or i % 2 == 0 else "spk2") for i in range(100)]


def test_turns_writer_times_each_first_label_only(tmp_path: Path) -> None:
    """label_s: one value per stretch, from its first label; relabels and overlap turns (found later on purpose) do not count."""
    ctx = RunContext()
    ctx.clock.start_wall = time.time() - 10.0  # the run began 10 s of wall time ago: media 0-10 s has come in
    writer = TurnsWriter("turns", TurnsWriterParams(dir=str(tmp_path)), ctx)
    writer.configure({"turns": StreamInfo()})
    writer.open()
    for i in range(3):  # stretches that ended at 8.0, 8.5 and 9.0 s, labelled now
        t = _turn(i, "spk1", 7.5 + 0.5 * i, 8.0 + 0.5 * i)
        writer.process("turns", Packet(t.t0, t.t1, t))
    writer.process("turns", Packet(9.5, 9.5, _turn(0, "spk2", 7.5, 8.0, rev=1)))  # a pass relabels the first
    second = SpeakerTurn("dz-000000-2", "spk3", 7.5, 8.0, None, None, 0, overlap=True)
    writer.process("turns", Packet(9.5, 9.5, second))
    lat = ctx.latency.to_json()["label_s"]
    assert lat["count"] == 3
    assert 1.5 <= lat["p50"] <= 1.7 and 2.0 <= lat["max"] <= 2.2  # 2.0, 1.5 and 1.0 s, plus the test's own time


def test_turns_writer_latency_can_be_turned_off(tmp_path: Path) -> None:
    ctx = RunContext()
    writer = TurnsWriter("turns", TurnsWriterParams(dir=str(tmp_path), latency=False), ctx)
    writer.configure({"turns": StreamInfo()})
    writer.open()
    writer.process("turns", Packet(0.0, 0.5, _turn(0, "spk1", 0.0, 0.5)))
    assert "label_s" not in ctx.latency.to_json()
