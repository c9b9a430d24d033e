"""The command line as a user meets it: help, listings, drawings, and every error path.

Errors must be one clear line (no traceback) with the exit status of their class:
2 graph, 3 input, 4 node failure, 64 usage.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import GRAPHS, run_cli, tone, write_graph

TRANSCRIBE = str(GRAPHS / "transcribe.json")


def no_traceback(res) -> None:
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout, res.stderr


def test_help_and_version() -> None:
    res = run_cli("--help")
    assert res.returncode == 0 and "meetflow run graphs/meeting.json" in res.stdout
    assert run_cli("--version").stdout.startswith("meetflow ")
    res = run_cli()
    assert res.returncode == 64


def test_nodes_lists_and_describes_types() -> None:
    res = run_cli("nodes")
    assert res.returncode == 0
    for t in ("io.audio_file", "speech.vad", "asr.whisper", "transcript.writer"):
        assert t in res.stdout
    res = run_cli("nodes", "asr.whisper", "--json")
    doc = json.loads(res.stdout)
    assert doc["inputs"]["speech"]["type"] == "SpeechAudio"
    assert doc["params"]["properties"]["beam_size"]["default"] == 5
    res = run_cli("nodes", "asr.whsper")
    assert res.returncode == 64 and "did you mean asr.whisper" in res.stderr
    no_traceback(res)


@pytest.mark.parametrize("fmt,marker", [("dot", 'digraph "transcribe"'), ("mermaid", "flowchart LR")])
def test_graph_drawing(fmt: str, marker: str) -> None:
    res = run_cli("graph", TRANSCRIBE, "--format", fmt)
    assert res.returncode == 0 and marker in res.stdout
    assert "vad" in res.stdout and "asr" in res.stdout


def test_validate(tmp_path: Path) -> None:
    res = run_cli("validate", str(GRAPHS / "meeting.json"))
    assert res.returncode == 0 and "valid graph 'meeting'" in res.stdout
    wav = tmp_path / "x.wav"
    sf.write(wav, tone(0.5), 16000)
    res = run_cli("validate", TRANSCRIBE, "--input", str(wav))
    assert res.returncode == 0 and "fits" in res.stdout


def test_validate_lists_the_variables_that_set_takes(tmp_path: Path) -> None:
    res = run_cli("validate", str(GRAPHS / "meeting.json"), "--variables", "--set", "speakers=3")
    assert res.returncode == 0, res.stderr
    rows = {line.split("│")[1].strip(): line for line in res.stdout.splitlines() if line.count("│") >= 4 and line.split("│")[1].strip()}
    assert {"input", "out", "beam_size", "refine", "speakers"} <= set(rows)
    assert "(required)" in rows["input"] and rows["speakers"].split("│")[3].strip() == "3"  # the value given, beside its default
    bare = tmp_path / "bare.json"
    nodes = [{"id": "src", "type": "io.audio_file", "params": {"path": "x.wav"}}, {"id": "mix", "type": "audio.mixdown"}]
    bare.write_text(json.dumps({"meetflow": 1, "name": "bare", "nodes": nodes, "edges": ["src.audio -> mix.audio"]}))
    res = run_cli("validate", str(bare), "--variables")
    assert res.returncode == 0 and "declares no variables" in res.stdout, res.stdout + res.stderr


def _bad_graph(tmp_path: Path) -> Path:
    return write_graph(
        tmp_path / "bad.json",
        [{"id": "src", "type": "io.audio_file", "params": {"path": "${input}", "rate": "fast"}},
         {"id": "vad", "type": "speech.vad", "params": {"threshold": 0.5, "thresold": 1}},
         {"id": "asr", "type": "asr.whisper"},
         {"id": "files", "type": "transcript.writer"}],
        ["src.audio -> vad.audio", "src.audio -> asr.speech", "vad.speech -> files.transcript"],
        {"input": {}},
    )


def test_graph_errors_exit_2_listing_every_problem(tmp_path: Path) -> None:
    res = run_cli("validate", str(_bad_graph(tmp_path)))
    assert res.returncode == 2
    no_traceback(res)
    err = res.stderr
    assert "6 problems" in err
    assert "/edges/2: type mismatch: vad.speech produces SpeechAudio but files.transcript accepts TranscriptUpdate" in err
    assert "/nodes/0/params/rate" in err and "/nodes/1/params/thresold" in err and "did you mean 'threshold'" in err
    assert "/edges/1: type mismatch: src.audio produces AudioBlock but asr.speech accepts SpeechAudio" in err
    assert "/nodes/2: required input 'speech'" in err


@pytest.mark.parametrize("text,expect", [
    ('{"nodes": [', "malformed JSON at line 1"),
    ("", "malformed JSON"),
])
def test_malformed_graph_files(tmp_path: Path, text: str, expect: str) -> None:
    path = tmp_path / "g.json"
    path.write_text(text)
    res = run_cli("run", str(path))
    assert res.returncode == 2 and expect in res.stderr
    no_traceback(res)
    res = run_cli("run", str(tmp_path / "missing.json"))
    assert res.returncode == 2 and "graph file not found" in res.stderr


def _wav(tmp_path: Path, name: str, x: np.ndarray, rate: int = 16000) -> Path:
    path = tmp_path / name
    sf.write(path, x, rate)
    return path


@pytest.mark.parametrize("case,status,message", [
    ("missing", 3, "no such file"),
    ("directory", 3, "is a directory"),
    ("not_audio", 3, "not a readable recording"),
    ("empty", 3, "contains no audio"),
    ("unreadable", 3, "cannot open"),
    ("no_input", 64, "variable 'input' has no value"),
    ("unknown_var", 64, "declares no variable 'beem'"),
    ("bad_set", 64, "--set expects name=value"),
    ("bad_value", 64, "--set beam_size=wide: "),  # the command line's value, not the graph file, is wrong
    ("bad_model", 64, "--set model=/no/such/model: "),
    ("bad_executor", 64, "invalid choice"),
    ("out_is_file", 5, "is a file, not a folder"),
    ("out_unwritable", 5, "cannot write to /proc/"),
])
def test_run_errors(tmp_path: Path, case: str, status: int, message: str) -> None:
    import os

    ok = _wav(tmp_path, "ok.wav", tone(0.3))
    args = ["run", TRANSCRIBE, "--out", str(tmp_path / "out"), "-q"]
    if case == "missing":
        args += ["--input", str(tmp_path / "nope.wav")]
    elif case == "directory":
        args += ["--input", str(tmp_path)]
    elif case == "not_audio":
        (tmp_path / "notes.wav").write_text("meeting notes, not audio")
        args += ["--input", str(tmp_path / "notes.wav")]
    elif case == "empty":
        args += ["--input", str(_wav(tmp_path, "e.wav", np.zeros((0, 1), dtype=np.float32)))]
    elif case == "unreadable":
        if os.geteuid() == 0:
            pytest.skip("root can read any file")
        p = _wav(tmp_path, "locked.wav", tone(0.3))
        p.chmod(0)
        args += ["--input", str(p)]
    elif case == "unknown_var":
        args += ["--input", str(ok), "--set", "beem=3"]
    elif case == "bad_set":
        args += ["--input", str(ok), "--set", "beam_size"]
    elif case == "bad_value":
        args += ["--input", str(ok), "--set", "beam_size=wide"]
    elif case == "bad_model":
        args += ["--input", str(ok), "--set", "model=/no/such/model"]
    elif case == "bad_executor":
        args += ["--input", str(ok), "--executor", "gpu"]
    elif case == "out_is_file":
        (tmp_path / "notes.txt").write_text("keep me")
        args += ["--input", str(ok), "--out", str(tmp_path / "notes.txt")]
    elif case == "out_unwritable":  # the run's own failure is reported, not the metrics.json that could not follow it
        args += ["--input", str(ok), "--out", "/proc/meetflow-out"]
    res = run_cli(*args)
    assert res.returncode == status, res.stderr
    assert message in res.stderr
    no_traceback(res)
    if case == "out_is_file":
        assert (tmp_path / "notes.txt").read_text() == "keep me"
    if status in (2, 3, 5, 64) and case != "bad_executor":
        assert len(res.stderr.strip().splitlines()) <= 3


def test_a_run_does_not_write_over_an_earlier_runs_results(tmp_path: Path) -> None:
    """The second run into one folder stops before it starts, leaving the first transcript as it was; --overwrite replaces it."""
    import shutil

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    from nodes.sim.tts import conversation

    said = conversation([("a", "Good morning everyone.")])  # words, so there is a transcript worth keeping
    talk = _wav(tmp_path, "talk.wav", said.audio, said.rate)
    out = tmp_path / "out"
    assert run_cli("run", TRANSCRIBE, "-i", str(talk), "-o", str(out), "-q").returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert "transcript.jsonl" in before
    res = run_cli("run", TRANSCRIBE, "-i", str(talk), "-o", str(out), "-q")
    assert res.returncode == 5 and "already holds an earlier run's results" in res.stderr and "transcript.jsonl" in res.stderr
    assert "--overwrite" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    no_traceback(res)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # not a byte touched, metrics.json included
    rec = tmp_path / "rec"
    assert run_cli("record", TRANSCRIBE, "-i", str(talk), "-o", str(rec), "-q").returncode == 0
    res = run_cli("record", TRANSCRIBE, "-i", str(talk), "-o", str(tmp_path / "fresh"), "--to", str(rec / "recording.wav"))
    assert res.returncode == 5 and "would replace files that exist" in res.stderr and str(rec / "recording.wav") in res.stderr
    assert "recording the input" not in res.stderr and not (tmp_path / "fresh").exists()  # refused before it starts
    res = run_cli("run", TRANSCRIBE, "-i", str(talk), "-o", str(out), "-q", "--overwrite")
    assert res.returncode == 0, res.stderr
    for name in before:
        if name != "metrics.json":
            (out / name).unlink()
    assert run_cli("run", TRANSCRIBE, "-i", str(talk), "-o", str(out), "-q").returncode == 0  # a run's metrics alone block nothing


@pytest.mark.parametrize("case,status,message", [
    ("record_to_input", 5, "that is the recording this run reads"),
    ("metrics_is_input", 5, "--metrics"),
    ("metrics_is_users", 5, "exists and is not what --metrics writes"),
    ("trace_is_folder", 5, "--trace"),
    ("web_port_alone", 64, "only with --web"),
    ("empty_out", 64, "--out: empty"),
    ("input_twice", 64, "disagree"),
    ("mic_on_file_graph", 3, "this graph reads recordings only"),
    ("unknown_option", 64, "meetflow run: error: unrecognized arguments: --bogus"),
])
def test_run_refuses_to_destroy_or_guess(tmp_path: Path, case: str, status: int, message: str) -> None:
    """Outputs that would destroy the input or a file of the user's, and contradictory options, stop the run
    before it starts, with the file untouched (even with --overwrite where the file is the input)."""
    talk = _wav(tmp_path, "talk.wav", tone(0.3))
    mine = tmp_path / "notes.txt"
    mine.write_text("my notes")
    before = talk.read_bytes()
    args = ["run", TRANSCRIBE, "-i", str(talk), "-o", str(tmp_path / "out"), "-q"]
    extra = {
        "record_to_input": ["--to", str(talk), "--overwrite"],
        "metrics_is_input": ["--metrics", str(talk), "--overwrite"],
        "metrics_is_users": ["--metrics", str(mine)],
        "trace_is_folder": ["--trace", str(tmp_path)],
        "web_port_alone": ["--web-port", "9000"],
        "empty_out": ["-o", ""],
        "input_twice": ["--set", "input=other.wav"],
        "unknown_option": ["--bogus"],
    }.get(case, [])
    if case == "record_to_input":
        args[0] = "record"
    if case == "mic_on_file_graph":
        args[3] = "mic"
    res = run_cli(*args, *extra)
    assert res.returncode == status, res.stderr
    assert message in res.stderr
    no_traceback(res)
    assert talk.read_bytes() == before and mine.read_text() == "my notes"
    assert not (tmp_path / "out").exists() or case == "empty_out"  # refused before anything was made


def test_two_runs_cannot_write_into_one_folder_at_once(tmp_path: Path) -> None:
    """The second run stops at once instead of interleaving its journal with the first's."""
    import fcntl
    import os

    out = tmp_path / "out"
    out.mkdir()
    fd = os.open(out, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running meetflow holds it
        res = run_cli("run", TRANSCRIBE, "-i", str(_wav(tmp_path, "t.wav", tone(0.3))), "-o", str(out), "-q")
    finally:
        os.close(fd)
    assert res.returncode == 5 and "another meetflow run is writing into this folder" in res.stderr
    assert list(out.iterdir()) == []


def test_an_empty_result_left_by_a_stopped_run_blocks_nothing(tmp_path: Path) -> None:
    """A run stopped while its models loaded leaves empty files; the next run into that folder goes ahead."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "transcript.jsonl").write_text("")
    (out / "transcript.seglst.json").write_text("[]\n")
    (out / "transcript.vtt").write_text("WEBVTT\n\n")
    res = run_cli("run", TRANSCRIBE, "-i", str(_wav(tmp_path, "t.wav", tone(0.3))), "-o", str(out), "-q")
    assert res.returncode == 0, res.stderr


def test_channel_count_that_does_not_fit(tmp_path: Path) -> None:
    g = write_graph(
        tmp_path / "array.json",
        [{"id": "src", "type": "io.audio_file", "params": {"path": "${input}", "expect_channels": 7}},
         {"id": "sink", "type": "util.null_sink"}],
        ["src.audio -> sink.in"],
        {"input": {}},
    )
    stereo = _wav(tmp_path, "stereo.wav", tone(0.3, channels=2))
    res = run_cli("run", str(g), "--input", str(stereo), "-q")
    assert res.returncode == 3 and "has 2 channel(s) but the graph expects 7" in res.stderr
    no_traceback(res)


def test_vad_given_stereo_is_a_graph_error(tmp_path: Path) -> None:
    g = write_graph(
        tmp_path / "novmix.json",
        [{"id": "src", "type": "io.audio_file", "params": {"path": "${input}"}},
         {"id": "vad", "type": "speech.vad"},
         {"id": "sink", "type": "util.null_sink"}],
        ["src.audio -> vad.audio", "vad.speech -> sink.in"],
        {"input": {}},
    )
    stereo = _wav(tmp_path, "stereo.wav", tone(0.3, channels=2))
    res = run_cli("run", str(g), "--input", str(stereo), "-q")
    assert res.returncode == 2 and "/nodes/1: vad (speech.vad): needs mono audio but receives 2 channels; put an audio.mixdown node in front" in res.stderr


def test_node_failure_exits_4_with_node_and_time(tmp_path: Path, capsys) -> None:
    from pipeline.cli.main import main

    g = write_graph(
        tmp_path / "fail.json",
        [{"id": "src", "type": "test.count", "params": {"count": 100}}, {"id": "boom", "type": "test.fail", "params": {"at": 30}}, {"id": "sink", "type": "util.null_sink"}],
        ["src -> boom", "boom -> sink"],
        {"out": {"default": str(tmp_path / "out")}},
    )
    doc = json.loads(g.read_text())
    doc["nodes"].append({"id": "keep", "type": "util.null_sink", "params": {}})
    doc["edges"].append("src -> keep")
    doc["nodes"][0]["params"]["count"] = 100
    g.write_text(json.dumps(doc))
    # 'out' is declared but unused by nodes: metrics still go there
    status = main(["run", str(g), "-q", "--metrics", str(tmp_path / "m.json")])
    err = capsys.readouterr().err
    assert status == 4
    assert "node 'boom' failed at media time 0.290 s: ValueError: bad packet 29" in err
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["run"]["failed"] == "boom" and "error" in metrics["nodes"]["boom"]


def test_export_command(tmp_path: Path) -> None:
    journal = tmp_path / "t.jsonl"
    journal.write_text(json.dumps({"segment_id": "a", "status": "final", "t0": 0, "t1": 1, "text": "hi there", "words": [], "speaker": "S1", "revision": 1}) + "\n")
    res = run_cli("export", str(journal), "--format", "srt", "--format", "rttm")
    assert res.returncode == 0
    assert (tmp_path / "t.srt").read_text().startswith("1\n00:00:00,000 --> 00:00:01,000\nS1: hi there")
    res = run_cli("export", str(tmp_path / "none.jsonl"))
    assert res.returncode == 3 and "no such file" in res.stderr


def test_export_names_the_meeting_as_the_run_did_and_keeps_edited_files(tmp_path: Path) -> None:
    """`meetflow export` beside a run: same session id as the run's files (the recording's name), the same
    files when nothing changed, and no silent replacement of a file that holds something else."""
    import shutil

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    from nodes.sim.tts import conversation

    said = conversation([("a", "Good morning everyone.")])
    out = tmp_path / "out"
    assert run_cli("run", TRANSCRIBE, "-i", str(_wav(tmp_path, "standup.wav", said.audio, said.rate)), "-o", str(out), "-q").returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.name != "metrics.json"}
    res = run_cli("export", str(out / "transcript.jsonl"))
    assert res.returncode == 0, res.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != "metrics.json"} == before
    assert (out / "transcript.rttm").read_text().split()[1] == "standup"
    (out / "transcript.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nmy corrected line\n")
    res = run_cli("export", str(out / "transcript.jsonl"))
    assert res.returncode == 5 and "transcript.srt" in res.stderr and "--overwrite" in res.stderr
    assert "my corrected line" in (out / "transcript.srt").read_text()
    no_traceback(res)
    assert run_cli("export", str(out / "transcript.jsonl"), "--overwrite").returncode == 0
    assert (out / "transcript.srt").read_bytes() == before["transcript.srt"]


def test_a_mistake_in_the_graph_file_stays_the_graph_files_with_command_line_values_given(tmp_path: Path) -> None:
    """Only a parameter that a command-line value filled is blamed on the command line (exit 64); the graph file's own
    bad value is a graph error (exit 2) however many --input/--out/--set values the run was given."""
    doc = json.loads(Path(TRANSCRIBE).read_text())
    doc["variables"]["beam_size"]["default"] = "wide"
    g = tmp_path / "g.json"
    g.write_text(json.dumps(doc))
    talk = _wav(tmp_path, "t.wav", tone(0.3))
    res = run_cli("run", str(g), "-i", str(talk), "-o", str(tmp_path / "out"), "--set", "language=en", "-q")
    assert res.returncode == 2 and "invalid graph" in res.stderr and "/params/beam_size" in res.stderr, res.stderr
    res = run_cli("run", str(g), "-i", str(talk), "-o", str(tmp_path / "out"), "--set", "beam_size=wider", "-q")
    assert res.returncode == 64 and "--set beam_size=wider" in res.stderr, res.stderr


def test_overwrite_says_which_older_files_it_leaves_beside_the_new_results(tmp_path: Path) -> None:
    """--overwrite into a folder where a run of another graph left more files: they are not deleted (they may be
    the user's), but the run says the folder now mixes two runs."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "transcript.jsonl").write_text('{"old": true}\n')
    (out / "tracks.jsonl").write_text('{"t": 0.1, "track_id": 1, "azimuth_deg": 10.0}\n')
    res = run_cli("run", TRANSCRIBE, "-i", str(_wav(tmp_path, "t.wav", tone(0.3))), "-o", str(out), "--overwrite", "-q")
    assert res.returncode == 0, res.stderr
    assert "also holds tracks.jsonl, which this run does not write" in res.stderr
    assert (out / "tracks.jsonl").read_text().startswith('{"t": 0.1')
