"""The parts of live operation that need no audio server: the terminal view, the load
shedder's decisions, the file-or-device source, the recorder and ``meetflow record``."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from conftest import GRAPHS, run_cli, tone, write_graph
from engine_nodes import COLLECTED

from pipeline import AudioBlock, GraphError, Packet, RunContext, SpeechAudio, Track, Tracks, TranscriptUpdate, load_graph, run_graph


# -- terminal view ------------------------------------------------------------------------------
class _Status:
    """Stand-in for RunStatus (a live run with a device, under overload)."""

    context = type("C", (), {"live": True})()

    def snapshot(self) -> dict[str, Any]:
        return {
            "live": True, "position_s": 75.2, "duration_s": None, "load": {"vad": 0.05, "asr": 1.2},
            "queues": {"vad.speech -> shed.speech": {"packets": 30, "seconds": 3.1}}, "drops": {},
            "latency": {"final_s": {"p50": 2.5, "max": 6.0, "count": 9}},
            "report": {
                "capture": {"source": {"input": "mic:array", "channels": 7, "rate": 16000, "peak_dbfs": [-9.0] * 7, "lost_s": 1.25, "overflows": 1, "drift_ppm": -12.0}},
                "shedding": {"shed": {"segments": 12, "segments_dropped": 3, "segments_cut": 1, "speech_dropped_s": 9.5}},
            },
        }


def test_terminal_view_shows_talkers_capture_load_and_drops() -> None:
    from rich.console import Console

    from pipeline.cli.view import LiveView, arrow

    assert [arrow(a) for a in (0, 35, 90, 180, -90, -135, 170)] == ["→", "↗", "↑", "←", "↓", "↙", "←"]
    buf = io.StringIO()
    view = LiveView(Console(file=buf, force_terminal=True, width=140, color_system=None), lambda: (75.2, None), _Status())
    with view:
        view.update(TranscriptUpdate("s1", "partial", 70.0, 72.0, "we should ask the fin"))
        view.update(Tracks([Track(1, 35.0, active=True), Track(2, -120.0, active=False)]))
        rendered = Console(file=io.StringIO(), width=140, color_system=None)
        rendered.print(view)
        area = rendered.file.getvalue()  # type: ignore[attr-defined]
        view.update(TranscriptUpdate("s1", "final", 70.0, 73.0, "We should ask the finance team.", speaker="alice", azimuth_deg=35.0, revision=2))
    assert "we should ask the fin" in area
    assert "↗ 1  +35°" in area and "2 -120° (quiet)" in area
    assert "capture  mic:array 7 ch 16 kHz" in area and "lost 1.25 s in 1 overflow(s)" in area and "drift -12 ppm" in area
    assert "asr 120%" in area and "queue shed 3.1 s" in area
    assert "dropped 3 segment(s), cut 1 (9.5 s of speech)" in area
    assert "● live 01:15.2" in area
    assert "alice: (+35°) We should ask the finance team." in buf.getvalue()


# -- speech.shed ------------------------------------------------------------------------------------
RATE = 16000


class _Shedder:
    """A speech.shed node driven by hand: each packet is delivered ``lag`` seconds after capture."""

    def __init__(self, live: bool = True, **params: Any) -> None:
        from nodes.speech.shed import ShedParams, SpeechShedder

        self.ctx = RunContext(live=live)
        self.node = SpeechShedder("shed", ShedParams(budget_s=10, **params), self.ctx)
        self.out: list[SpeechAudio] = []
        self.node._outs["speech"] = (lambda _a, p: self.out.append(p.payload), None)
        self.node.configure({})
        self.node.open()
        self.pos = 0

    def chunk(self, seg: int, seconds: float, lag: float, final: bool = False) -> None:
        n = int(seconds * RATE)
        start, self.pos = self.pos, self.pos + n
        t0, t1 = start / RATE, self.pos / RATE
        self.ctx.clock.mark(t1, time.time() - lag)
        x = np.full(n, 0.1, dtype=np.float32)
        self.node.process("speech", Packet(t0, t1, SpeechAudio(seg, x, RATE, start, final=final, end=self.pos if final else None)))

    def passed(self, seg: int) -> list[SpeechAudio]:
        return [c for c in self.out if c.segment_id == seg]


def test_shedder_passes_everything_while_recognition_keeps_up() -> None:
    s = _Shedder()
    for seg in range(3):
        for i in range(10):
            s.chunk(seg, 0.5, lag=0.3, final=i == 9)
    assert len(s.out) == 30 and s.node.stats["segments_dropped"] == 0 and s.node.stats["segments_cut"] == 0


def test_shedder_drops_a_stale_segment_whole() -> None:
    s = _Shedder()
    for i in range(4):
        s.chunk(0, 0.5, lag=5.5, final=i == 3)  # 5.5 s behind + 1.25 s to decode: more than 50% of the budget
    for i in range(4):
        s.chunk(1, 0.5, lag=0.5, final=i == 3)  # caught up
    assert s.passed(0) == [] and len(s.passed(1)) == 4
    st = s.node.stats
    assert st["segments_dropped"] == 1 and st["speech_dropped_s"] == pytest.approx(2.0)
    assert s.ctx.report["shedding"]["shed"]["segments_dropped"] == 1


def test_shedder_cuts_a_segment_that_would_finish_too_late() -> None:
    s = _Shedder()
    lags = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 6.6, 7.2, 7.8]
    for i, lag in enumerate(lags):
        s.chunk(0, 0.5, lag=lag, final=i == len(lags) - 1)
    got = s.passed(0)
    # Passed on until backlog + expected decoding crossed 65% of the budget, then ended there.
    assert got[-1].final and len(got[-1].samples) == 0
    assert got[-1].end == sum(len(c.samples) for c in got[:-1]) == got[-2].start + len(got[-2].samples)
    assert len(got) - 1 == 4  # the 5th chunk: 5 s behind + 1 s + 0.25 * 2.5 s to decode > 6.5 s
    assert s.node.stats["segments_cut"] == 1


def test_shedder_learns_how_long_the_recogniser_takes() -> None:
    s = _Shedder()
    for i in range(4):
        s.chunk(0, 0.5, lag=0.5, final=i == 3)
    assert len(s.passed(0)) == 4
    # The writer reports the final of that segment 4 s after its audio passed the shedder.
    ctx = s.ctx
    ctx.latency.add("final_s", (time.time() + 4.0) - ctx.clock.wall_at(1.9), 1.9)
    # Now a segment starting 3 s behind would finish ~7 s late: above 50% of 10 s.
    for i in range(4):
        s.chunk(1, 0.5, lag=3.0, final=i == 3)
    assert s.passed(1) == [] and s.node.stats["segments_dropped"] == 1
    assert s.node.stats["downstream_s"] == pytest.approx(4.0, abs=0.1)


def test_shedder_forgets_a_slow_spell_and_admits_again() -> None:
    # A slow spell: one final came 7 s after its audio passed, so new segments are dropped ...
    s = _Shedder()
    for i in range(4):
        s.chunk(0, 0.5, lag=0.5, final=i == 3)
    ctx = s.ctx
    ctx.latency.add("final_s", (time.time() + 7.0) - ctx.clock.wall_at(1.9), 1.9)
    for i in range(4):
        s.chunk(1, 0.5, lag=0.2, final=i == 3)
    assert s.passed(1) == []
    # ... and while everything is dropped no final comes to say the recogniser is free again.
    # Once the measurement is older than `forget` budgets it no longer counts: the next
    # segment is admitted and measures the recogniser afresh.
    s.node._downstream[0] = (time.time() - 3.0 * 10.0 - 1.0, s.node._downstream[0][1])
    for i in range(4):
        s.chunk(2, 0.5, lag=0.2, final=i == 3)
    assert len(s.passed(2)) == 4 and s.node.stats["segments_dropped"] == 1


def test_shedder_counts_the_wait_for_a_first_final() -> None:
    s = _Shedder()
    for i in range(2):
        s.chunk(0, 0.5, lag=0.5, final=i == 1)
    s.node._passed[0] = (s.node._passed[0][0], time.time() - 5.5)  # passed 5.5 s ago, no final yet
    s.chunk(1, 0.5, lag=0.5)  # 0.5 + 5.5 > 5: dropped
    assert s.passed(1) == []


def test_shedder_never_drops_in_a_replay() -> None:
    s = _Shedder(live=False)
    for i in range(4):
        s.chunk(0, 0.5, lag=60.0, final=i == 3)
    assert len(s.out) == 4 and "shedding" not in s.ctx.report


# -- io.audio_input -----------------------------------------------------------------------------------
def _input_graph(tmp_path: Path, params: dict[str, Any], sink: str = "test.collect") -> Path:
    sink_node: dict[str, Any] = {"id": "sink", "type": sink}
    if sink == "test.collect":
        sink_node["params"] = {"key": "blocks"}
    return write_graph(tmp_path / "g.json", [{"id": "src", "type": "io.audio_input", "params": params}, sink_node], ["src.audio -> sink.in"])


def test_audio_input_reads_a_file_like_audio_file(tmp_path: Path) -> None:
    wav = tmp_path / "x.wav"
    sf.write(wav, tone(1.0, channels=3), 16000)
    graph = load_graph(_input_graph(tmp_path, {"input": str(wav), "channels": [2, 0]}))
    assert not graph.live
    run_graph(graph)
    blocks = COLLECTED["blocks"]
    assert len(blocks) == 50 and all(isinstance(b, AudioBlock) and b.samples.shape == (320, 2) for _, b in blocks)
    assert blocks[-1][0] == pytest.approx(0.98)


def test_audio_input_rejects_options_of_the_other_kind(tmp_path: Path) -> None:
    wav = tmp_path / "x.wav"
    sf.write(wav, tone(0.2), 16000)
    res = run_cli("run", str(_input_graph(tmp_path, {"input": str(wav), "buffer_s": 5}, "util.null_sink")), "-q")
    assert res.returncode == 2 and "/nodes/0/params/buffer_s" in res.stderr and "applies to live devices" in res.stderr
    res = run_cli("run", str(_input_graph(tmp_path, {"input": "mic:array", "start_s": 5}, "util.null_sink")), "-q")
    assert res.returncode == 2 and "/nodes/0/params/start_s" in res.stderr
    assert load_graph(_input_graph(tmp_path, {"input": "mic:array"})).live
    with pytest.raises(GraphError):
        load_graph(_input_graph(tmp_path, {"input": "mic", "latency": "medium"}))


# -- io.recorder and meetflow record -------------------------------------------------------------------
def test_recorder_keeps_the_time_line_and_a_valid_file_while_recording(tmp_path: Path) -> None:
    from nodes.io.recorder import Recorder, RecorderParams

    path = tmp_path / "rec.wav"
    ctx = RunContext()
    rec = Recorder("rec", RecorderParams(path=str(path), flush_s=0.001), ctx)
    rec.configure({})
    rec.open()
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (1600, 2)).astype(np.float32)
    rec.process("audio", Packet(0.0, 0.1, AudioBlock(x, 16000, 0)))
    time.sleep(0.002)
    rec.process("audio", Packet(0.2, 0.3, AudioBlock(x, 16000, 3200)))  # a gap of 0.1 s
    assert sf.info(path).frames == 4800  # the header is current while recording
    rec.flush()
    rec.close()
    y, rate = sf.read(path, dtype="float32")
    assert rate == 16000 and y.shape == (4800, 2)
    assert np.array_equal(y[:1600], x) and not y[1600:3200].any() and np.array_equal(y[3200:], x)
    assert ctx.report["recording"]["rec"]["frames"] == 4800


def test_meetflow_record_saves_the_stream_the_graph_saw(tmp_path: Path) -> None:
    src = tmp_path / "in.wav"
    x = np.random.default_rng(1).uniform(-0.5, 0.5, (16000, 2)).astype(np.float32)
    sf.write(src, x, 16000, subtype="FLOAT")
    graph = write_graph(tmp_path / "g.json", [{"id": "source", "type": "io.audio_input", "params": {"input": "${input}"}},
                                              {"id": "sink", "type": "util.null_sink"}], ["source.audio -> sink.in"],
                        {"input": {}, "out": {"default": str(tmp_path / "out")}})
    res = run_cli("record", str(graph), "--input", str(src), "-q", "--metrics", str(tmp_path / "out" / "metrics.json"))
    assert res.returncode == 0, res.stderr
    y, _ = sf.read(tmp_path / "out" / "recording.wav", dtype="float32")
    assert np.array_equal(x, y)
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert m["recording"]["recorder"]["frames"] == 16000
    res = run_cli("record", str(graph), "--input", str(src), "--to", str(tmp_path / "x.mp4"), "-q")
    assert res.returncode == 64 and "--to" in res.stderr and "cannot record to that format; use one of .caf, .flac" in res.stderr
    res = run_cli("record", str(graph), "--input", str(src), "--to", "/proc/no/x.wav", "-q")
    assert res.returncode == 5 and "cannot record to /proc/no/x.wav" in res.stderr and "Traceback" not in res.stderr
    res = run_cli("record", str(graph), "--input", str(src), "--source", "nope", "-q")
    assert res.returncode == 64 and "no audio source node" in res.stderr


def test_overload_drops_are_reported_at_the_end() -> None:
    from pipeline.cli.cmd_run import _overload_warnings
    from pipeline.metrics import EdgeStats, RunMetrics

    shed = {"budget_s": 8.0, "segments": 20, "segments_dropped": 3, "segments_cut": 2, "speech_s": 61.5, "speech_dropped_s": 12.25}
    m = RunMetrics("threaded", {}, {"vad.speech -> asr.speech": EdgeStats("vad.speech -> asr.speech", 10, "drop_oldest", drops=7)},
                   report={"shedding": {"shed": shed}})
    assert _overload_warnings(m) == [
        "shed: recognition fell behind: 3 of 20 speech segment(s) dropped whole and 2 cut short (12.2 s of 61.5 s of speech not transcribed) "
        "to keep final text within 8 s; see 'shedding' in metrics.json",
        "vad.speech -> asr.speech: 7 packet(s) dropped (drop_oldest, queue full); see 'edges' in metrics.json",
    ]
    assert _overload_warnings(RunMetrics("inline", {}, {}, report={"shedding": {"shed": {**shed, "segments_dropped": 0, "segments_cut": 0}}})) == []


def test_web_options_are_checked() -> None:
    res = run_cli("run", str(GRAPHS / "meeting.json"), "--input", "x.wav", "--web", "--web-port", "70000", "-q")
    assert res.returncode == 64 and "--web-port" in res.stderr


def test_a_second_ctrl_c_aborts_a_threaded_run_with_a_backlog(tmp_path: Path, meeting_wav) -> None:
    """The first Ctrl-C lets the graph finish what was read; with a slow stage that can take
    minutes, so the second one must end the run at once (finals already written stay)."""
    import signal
    import subprocess
    import sys

    from conftest import ROOT

    wav, _ = meeting_wav
    rec = tmp_path / "seen.wav"
    graph = write_graph(tmp_path / "slow.json", [
        {"id": "source", "type": "io.audio_input", "params": {"input": str(wav)}},
        {"id": "vad", "type": "speech.vad"},
        {"id": "slow", "type": "speech.delay", "params": {"rtf": 20}},
        {"id": "sink", "type": "util.null_sink"},
        # Only to see from outside that the graph is running (every node opened, audio flowing).
        {"id": "rec", "type": "io.recorder", "params": {"path": str(rec), "flush_s": 0.1}},
    ], ["source.audio -> vad.audio", "vad.speech -> slow.speech", "slow.speech -> sink.in", "source.audio -> rec.audio"])
    err_path = tmp_path / "stderr.txt"
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli.main", "run", str(graph), "-e", "threaded", "--metrics", str(tmp_path / "m.json")],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(err_path, "w"), text=True)
    try:
        # Wait (on a busy machine, models load slowly) until audio has flowed for a while:
        # the VAD has then sent speech to the slow stage, which has a backlog of minutes.
        deadline = time.monotonic() + 120
        while not (rec.exists() and rec.stat().st_size > 4 * 16000 * 4):
            assert proc.poll() is None, err_path.read_text()
            assert time.monotonic() < deadline, "the graph never started"
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 10
        while "stopping;" not in err_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        assert proc.poll() is None, err_path.read_text()  # still working through the backlog
        proc.send_signal(signal.SIGINT)
        t = time.monotonic()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = err_path.read_text()
    assert proc.returncode == 130 and time.monotonic() - t < 10, err
    assert "Traceback" not in err
