"""The array branch in graphs: validation against the geometry, mono input, bad channels, evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import run_cli, write_graph
from sim_meetings import meeting, needs_espeak

pytestmark = needs_espeak


def _variant(tmp_path: Path, name: str, fn) -> Path:  # noqa: ANN001
    """The shared simulated meeting with its channels changed by ``fn``."""
    x, rate = sf.read(meeting() / "meeting.wav", dtype="float32")
    path = tmp_path / f"{name}.wav"
    sf.write(path, fn(x.copy()), rate, subtype="FLOAT")
    return path


def _run_array(inp: Path, out: Path, *extra: str) -> tuple[int, str, list[dict]]:
    r = run_cli("run", "graphs/array.json", "--input", str(inp), "--out", str(out), "-q", *extra)
    tracks = [json.loads(line) for line in (out / "tracks.jsonl").read_text().splitlines()] if (out / "tracks.jsonl").exists() else []
    return r.returncode, r.stderr, tracks


def _median_error(tracks: list[dict]) -> float:
    from nodes.array.evaluate import TRUTH_KEYS, read_jsonl, score

    truth = read_jsonl(meeting() / "truth_azimuth.jsonl", TRUTH_KEYS)
    return score(truth, tracks).median_err or 99.0


def test_validate_reports_a_geometry_mismatch() -> None:
    wav = meeting() / "meeting.wav"
    r = run_cli("validate", "graphs/meeting.json", "--input", str(wav), "--set", "array=respeaker6")
    assert r.returncode == 3
    assert "has 7 channel(s), but array 'respeaker6' expects 6" in r.stderr and "circular7=7" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("validate", "graphs/meeting.json", "--input", str(wav))
    assert r.returncode == 0 and "fits" in r.stdout
    r = run_cli("validate", "graphs/meeting.json", "--input", str(wav), "--set", "array=respeaker7")
    # the value came from the command line: a usage error that names the --set (the graph file is fine)
    assert r.returncode == 64 and "--set array=respeaker7" in r.stderr and "/params/array" in r.stderr and "unknown array 'respeaker7'" in r.stderr


def test_geometry_file_inline_mics_and_device_channels(tmp_path: Path) -> None:
    from nodes.array.geometry import PRESETS

    wav = meeting() / "meeting.wav"
    geo = tmp_path / "dev.json"
    geo.write_text(json.dumps({"name": "dev", "units": "cm", "mics": [[100 * v for v in p] for p in PRESETS["circular7"].positions]}))
    code, err, tracks = _run_array(wav, tmp_path / "file", "--set", f"array={geo}")
    assert code == 0, err
    assert _median_error(tracks) < 3.0
    # explicit coordinates inside the graph
    nodes = [
        {"id": "src", "type": "io.audio_file", "params": {"path": str(wav)}},
        {"id": "mics", "type": "array.mics", "params": {"mics": [list(p) for p in PRESETS["circular7"].positions]}},
        {"id": "stft", "type": "array.stft"}, {"id": "doa", "type": "array.doa"}, {"id": "trk", "type": "array.tracker"},
        {"id": "out", "type": "array.tracks_writer", "params": {"dir": str(tmp_path / "inline")}},
    ]
    g = write_graph(tmp_path / "g.json", nodes, ["src -> mics", "mics -> stft", "stft -> doa", "doa -> trk", "trk -> out"])
    r = run_cli("run", str(g), "-q")
    assert r.returncode == 0, r.stderr
    inline = [json.loads(line) for line in (tmp_path / "inline" / "tracks.jsonl").read_text().splitlines()]
    assert inline == tracks
    # a device's raw stream: two extra channels around the mics, picked out by the preset's channel map
    x, rate = sf.read(wav, dtype="float32")
    six = meeting(array="respeaker6")
    y, _ = sf.read(six / "meeting.wav", dtype="float32")
    raw = np.concatenate([y, 0.01 * np.ones((len(y), 2), dtype=np.float32)], axis=1)
    sf.write(tmp_path / "raw8.wav", raw, rate)
    code, err, tracks8 = _run_array(tmp_path / "raw8.wav", tmp_path / "raw8", "--set", "array=respeaker6")
    assert code == 0, err
    assert len(tracks8) > 20


def test_mono_input(tmp_path: Path) -> None:
    x, rate = sf.read(meeting() / "meeting.wav", dtype="float32")
    mono = tmp_path / "mono.wav"
    sf.write(mono, x[:, 0], rate)
    code, err, _ = _run_array(mono, tmp_path / "a")
    assert code == 3 and "is mono" in err and "Traceback" not in err  # the localisation-only graph says so
    # a transcription graph's array branch stands aside: no error, no tracks.jsonl
    nodes = [
        {"id": "src", "type": "io.audio_file", "params": {"path": "${input}"}},
        {"id": "mics", "type": "array.mics"}, {"id": "stft", "type": "array.stft"}, {"id": "doa", "type": "array.doa"},
        {"id": "trk", "type": "array.tracker"}, {"id": "out", "type": "array.tracks_writer", "params": {"dir": str(tmp_path / "b")}},
        {"id": "mix", "type": "audio.mixdown"}, {"id": "sink", "type": "util.null_sink"},
    ]
    g = write_graph(tmp_path / "g.json", nodes, ["src -> mics", "mics -> stft", "stft -> doa", "doa -> trk", "trk -> out", "src -> mix", "mix -> sink"],
                    {"input": {}})
    r = run_cli("validate", str(g), "--input", str(mono))
    assert r.returncode == 0, r.stderr
    r = run_cli("run", str(g), "--input", str(mono))
    assert r.returncode == 0 and "Traceback" not in r.stderr
    assert not (tmp_path / "b" / "tracks.jsonl").exists()
    # array=none switches the branch off for any input
    code, err, _ = _run_array(meeting() / "meeting.wav", tmp_path / "c", "--set", "array=none")
    assert code == 0 and not (tmp_path / "c" / "tracks.jsonl").exists()


def test_two_channel_file_is_rejected_at_validation_when_an_array_is_named(tmp_path: Path) -> None:
    wav = _variant(tmp_path, "stereo", lambda x: x[:, :2])
    r = run_cli("validate", "graphs/meeting.json", "--input", str(wav), "--set", "array=circular7")
    assert r.returncode == 3 and "has 2 channel(s)" in r.stderr and "array=none" in r.stderr
    r = run_cli("validate", "graphs/array.json", "--input", str(wav))  # the directions-only graph names circular7 itself
    assert r.returncode == 3 and "has 2 channel(s)" in r.stderr


@pytest.mark.parametrize("name, change, warning, max_err", [
    ("dead", lambda x: np.concatenate([x[:, :3], 0 * x[:, 3:4], x[:, 4:]], axis=1), "mic 3 is dead", 6.0),
    ("hiss", lambda x: np.concatenate([x[:, :5], 1e-6 * np.ones_like(x[:, 5:6]), x[:, 6:]], axis=1), "mic 5 is dead", 6.0),
    ("clipped", lambda x: np.concatenate([x[:, :2], np.clip(40 * x[:, 2:3], -1, 1), x[:, 3:]], axis=1), "mic 2 clips on its own", 4.0),
    ("dc", lambda x: x + np.array([0, 0.3, 0, 0, 0, -0.2, 0], dtype=np.float32), "DC offset (mic 1 +0.300, mic 5 -0.200", 3.0),
    ("loud", lambda x: np.clip(30 * x, -1, 1), "clips on all channels", 4.0),
])
def test_bad_channels_degrade_gracefully(tmp_path: Path, name: str, change, warning: str, max_err: float) -> None:  # noqa: ANN001
    wav = _variant(tmp_path, name, change)
    code, err, tracks = _run_array(wav, tmp_path / name)
    assert code == 0 and "Traceback" not in err
    assert warning in err
    assert _median_error(tracks) < max_err


def test_copied_mono_is_not_an_array(tmp_path: Path) -> None:
    wav = _variant(tmp_path, "copies", lambda x: np.repeat(x[:, :1], 7, axis=1))
    code, err, tracks = _run_array(wav, tmp_path / "copies")
    assert code == 0 and "carry the same signal" in err and tracks == []


def test_a_recording_ending_in_digital_silence_is_an_array(tmp_path: Path) -> None:
    # a capture stopped after playback ends in zeros: all channels "agree" there, which is no evidence of a copied mono signal
    wav = _variant(tmp_path, "tail", lambda x: np.concatenate([x, np.zeros((24000, x.shape[1]), dtype=x.dtype)]))
    code, err, tracks = _run_array(wav, tmp_path / "tail")
    assert code == 0 and "same signal" not in err and "dead" not in err, err
    assert _median_error(tracks) < 3.0


def test_threaded_executor_gives_the_same_tracks(tmp_path: Path) -> None:
    wav = meeting() / "meeting.wav"
    _, _, inline = _run_array(wav, tmp_path / "i")
    _, _, threaded = _run_array(wav, tmp_path / "t", "-e", "threaded")
    assert inline and inline == threaded


def test_eval_doa(tmp_path: Path) -> None:
    folder = meeting()
    out = tmp_path / "out"
    code, err, _ = _run_array(folder / "meeting.wav", out)
    assert code == 0, err
    png, js = tmp_path / "doa.png", tmp_path / "doa.json"
    r = run_cli("eval", "doa", "--truth", str(folder / "truth_azimuth.jsonl"), "--tracks", str(out / "tracks.jsonl"),
                "--doa", str(out / "doa.jsonl"), "--plot", str(png), "--json", str(js))
    assert r.returncode == 0, r.stderr
    assert "median err" in r.stdout and "spk1" in r.stdout and "spk2" in r.stdout
    assert png.stat().st_size > 10000 and png.read_bytes()[:4] == b"\x89PNG"
    score = json.loads(js.read_text())
    assert score["median_err"] < 3.0 and score["tracked"] > 0.85 and score["breaks"] == 0
    assert score["raw_median_err"] is not None
    # bad inputs: one clear line, exit 3
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"t": 1.0, "track_id": 1}\n{"t": 2}\n')
    r = run_cli("eval", "doa", "--truth", str(folder / "truth_azimuth.jsonl"), "--tracks", str(bad))
    assert r.returncode == 3 and "bad.jsonl:1: missing azimuth_deg" in r.stderr
    r = run_cli("eval", "doa", "--truth", str(tmp_path / "none.jsonl"), "--tracks", str(bad))
    assert r.returncode == 3 and "no such file" in r.stderr


def test_meeting_graph_takes_any_channel_count_by_default(tmp_path: Path) -> None:
    """`array: auto` (the meeting graph's default): a 7-channel recording is circular7, and a recording of any other
    channel count (here the first two channels: a stereo file) is transcribed without directions, with one note that
    says how to get them, not refused; a named array that does not fit is still an error."""
    stereo = _variant(tmp_path, "stereo", lambda x: x[:, :2])
    r = run_cli("validate", "graphs/meeting.json", "--input", str(stereo))
    assert r.returncode == 0, r.stderr
    r = run_cli("run", "graphs/meeting.json", "--input", str(stereo), "--out", str(tmp_path / "out"), "--set", "refine=false")
    assert r.returncode == 0, r.stderr
    notes = [x for x in r.stderr.splitlines() if "no array was named" in x]
    assert len(notes) == 1 and "2 channels" in notes[0] and "--set array=NAME" in notes[0]
    assert not (tmp_path / "out" / "tracks.jsonl").exists() or not (tmp_path / "out" / "tracks.jsonl").read_text().strip()
    assert json.loads((tmp_path / "out" / "transcript.seglst.json").read_text())  # the speech was transcribed
    r = run_cli("validate", "graphs/meeting.json", "--input", str(stereo), "--set", "array=circular7")
    assert r.returncode == 3 and "expects 7" in r.stderr
