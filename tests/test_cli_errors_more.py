"""More of the command line's error paths: `simulate`, `graph --output` and `eval diarization`.

Each user error must be one clear line (no traceback, no "internal error") with the exit
status of its class (README "Exit status": 3 input, 5 output, 64 command line), and nothing
the user already has may be replaced without being asked. Checks run before any synthesis or
rendering, so most of these tests take well under a second; the few that render use a 3 s
scenario.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf
from conftest import GRAPHS, needs_espeak, run_cli

MEETING_GRAPH = str(GRAPHS / "meeting.json")
is_root = hasattr(os, "geteuid") and os.geteuid() == 0


def run_cli_unprivileged(*args: str):
    """``run_cli`` where folder permissions apply: as root, without the capability to override them (skips if that cannot be done)."""
    if not is_root:
        return run_cli(*args)
    import subprocess
    import sys

    from conftest import ROOT

    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    if shutil.which("setpriv") is None or subprocess.run([*drop, "true"], capture_output=True).returncode != 0:
        pytest.skip("running as root, and setpriv cannot drop the capability to write anywhere")
    return subprocess.run([*drop, sys.executable, "-m", "pipeline.cli.main", *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


def one_line_error(res, status: int) -> str:
    """The run failed with ``status`` and one message line, no traceback; returns the message."""
    assert res.returncode == status, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr and "this is a bug" not in res.stderr, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("meetflow: "), res.stderr
    return lines[0]


def usage_error(res) -> str:
    """argparse's usage error (exit 64): usage lines, then the error line."""
    assert res.returncode == 64, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr, res.stderr
    return res.stderr.strip().splitlines()[-1]


def simulate(*args: str, **kw: Any):
    return run_cli("simulate", *args, timeout=120, **kw)


def scenario(tmp_path: Path, filename: str = "scn.json", **changes: Any) -> Path:
    """A small valid scenario (one talker, one short sentence, 3 s); ``changes`` replace top-level keys."""
    doc: dict[str, Any] = {
        "meetflow_scenario": 1, "name": "meeting", "seed": 0, "rate": 16000, "duration_s": 3.0,
        "room": {"size": [5.0, 4.0, 2.8], "rt60": 0.25},
        "array": {"geometry": "custom", "mics": [[0.05, 0.0, 0.0], [-0.05, 0.0, 0.0], [0.0, 0.05, 0.0], [0.0, -0.05, 0.0]],
                  "centre": [2.5, 2.0, 0.75]},
        "noise": {"snr_db": None},
        "talkers": [{"id": "spk1", "voice": "en-us+m3", "position": [3.5, 2.0, 1.2]}],
        "utterances": [{"speaker": "spk1", "start": 0.5, "text": "Good morning."}],
    }
    doc.update(changes)
    path = tmp_path / filename
    path.write_text(json.dumps(doc))
    return path


# -- 1. simulate does not replace files -------------------------------------------------------------
def test_simulate_refuses_to_replace_files(tmp_path: Path) -> None:
    out = tmp_path / "s1"
    out.mkdir()
    (out / "meeting.wav").write_bytes(b"the user's own recording")
    (out / "scenario.json").write_text("{}")
    res = simulate("--out", str(out), "--duration", "3", "--talkers", "1")
    msg = one_line_error(res, 5)
    assert "already holds" in msg and "meeting.wav" in msg and "scenario.json" in msg and "--overwrite" in msg
    assert (out / "meeting.wav").read_bytes() == b"the user's own recording"
    assert sorted(p.name for p in out.iterdir()) == ["meeting.wav", "scenario.json"]


def test_simulate_refuses_to_replace_a_recording_in_the_current_folder(tmp_path: Path) -> None:
    (tmp_path / "meeting.wav").write_bytes(b"mine")
    res = simulate("--out", ".", "--duration", "3", "--talkers", "1", cwd=tmp_path)
    assert "meeting.wav" in one_line_error(res, 5)
    assert (tmp_path / "meeting.wav").read_bytes() == b"mine"


@needs_espeak
def test_simulate_overwrite_replaces(tmp_path: Path) -> None:
    out = tmp_path / "s1"
    out.mkdir()
    (out / "meeting.wav").write_bytes(b"old")
    res = simulate("--out", str(out), "--scenario", str(scenario(tmp_path)), "--overwrite")
    assert res.returncode == 0, res.stderr
    x, rate = sf.read(out / "meeting.wav")
    assert rate == 16000 and x.shape[1] == 4
    assert (out / "reference.rttm").read_text().startswith("SPEAKER meeting 1 ")


# -- 2. unknown voices ---------------------------------------------------------------------------
@needs_espeak
def test_simulate_unknown_voice_option(tmp_path: Path) -> None:
    res = simulate("--out", str(tmp_path / "s"), "--voices", "nosuchvoice,foo", "--talkers", "2", "--duration", "3")
    msg = one_line_error(res, 64)
    assert "unknown espeak-ng voice" in msg and "'foo'" in msg and "'nosuchvoice'" in msg and "espeak-ng --voices" in msg
    assert not (tmp_path / "s").exists()


@needs_espeak
def test_simulate_unknown_voice_in_scenario_file(tmp_path: Path) -> None:
    path = scenario(tmp_path, talkers=[{"id": "spk1", "voice": "foo", "position": [3.5, 2.0, 1.2]}])
    msg = one_line_error(simulate("--out", str(tmp_path / "s"), "--scenario", str(path)), 3)
    assert str(path) in msg and "unknown espeak-ng voice 'foo'" in msg and "espeak-ng --voices" in msg


def test_simulate_scenario_talker_outside_room_is_an_input_error_in_plain_numbers(tmp_path: Path) -> None:
    path = scenario(tmp_path, talkers=[{"id": "spk1", "voice": "en-us+m3", "position": [40.0, 1.2, 1.1]}])
    msg = one_line_error(simulate("--out", str(tmp_path / "s"), "--scenario", str(path)), 3)
    assert "spk1" in msg and "[40, 1.2, 1.1]" in msg and "outside" in msg and "np.float64" not in msg
    walker = {"id": "spk1", "voice": "en-us+m3", "trajectory": [[0.0, 3.5, 2.0, 1.6], [2.0, 9.5, 2.0, 1.6]]}
    msg = one_line_error(simulate("--out", str(tmp_path / "s"), "--scenario", str(scenario(tmp_path, talkers=[walker]))), 3)
    assert "[9.5, 2, 1.6]" in msg and "np.float64" not in msg


# -- 3. rate and RT60 ----------------------------------------------------------------------------
@pytest.mark.parametrize("opts,words", [
    (["--rate", "0"], ["--rate", "0"]),
    (["--rate", "-16000"], ["--rate"]),
    (["--rt60", "-1"], ["--rt60", "-1"]),
    (["--rt60", "5"], ["--rt60", "5"]),
    (["--rt60", "0.1:5"], ["--rt60", "5"]),
    (["--duration", "inf"], ["--duration"]),
])
def test_simulate_bad_numbers_are_usage_errors(tmp_path: Path, opts: list[str], words: list[str]) -> None:
    res = simulate("--out", str(tmp_path / "s"), "--talkers", "1", "--duration", "3", *opts)
    msg = one_line_error(res, 64)
    assert all(w in msg for w in words), msg
    assert "pydantic" not in msg and "validation error" not in msg and "ZeroDivision" not in msg


def test_simulate_rt60_impossible_for_room(tmp_path: Path) -> None:
    res = simulate("--out", str(tmp_path / "s"), "--talkers", "1", "--duration", "3", "--rt60", "0.06", "--room", "8x6.5x3.2")
    msg = one_line_error(res, 64)
    assert "RT60 0.06 s is not possible in a 8x6.5x3.2 m room" in msg


@pytest.mark.parametrize("change,words", [
    ({"rate": 0}, ["rate", "8000"]),
    ({"room": {"size": [5.0, 4.0, 2.8], "rt60": 5}}, ["rt60"]),
    ({"name": "../evil"}, ["name", "'../evil'"]),
])
def test_simulate_bad_scenario_file_numbers_are_input_errors(tmp_path: Path, change: dict, words: list[str]) -> None:
    path = scenario(tmp_path, **change)
    msg = one_line_error(simulate("--out", str(tmp_path / "s"), "--scenario", str(path)), 3)
    assert str(path) in msg and all(w in msg for w in words), msg
    assert "pydantic" not in msg and "ZeroDivision" not in msg
    assert not (tmp_path / "evil.wav").exists()


# -- 4. output folder and --name -----------------------------------------------------------------
def test_simulate_out_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    msg = one_line_error(simulate("--out", str(tmp_path / "afile" / "sub"), "--talkers", "1", "--duration", "3"), 5)
    assert "afile" in msg and "is a file" in msg
    msg = one_line_error(simulate("--out", str(tmp_path / "afile"), "--talkers", "1", "--duration", "3"), 5)
    assert "is a file, not a folder" in msg


def test_simulate_read_only_out(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        msg = one_line_error(run_cli_unprivileged("simulate", "--out", str(ro), "--talkers", "1", "--duration", "3"), 5)
        assert "the folder is not writable" in msg
        msg = one_line_error(run_cli_unprivileged("simulate", "--out", str(ro / "new"), "--talkers", "1", "--duration", "3"), 5)
        assert "cannot create the folder" in msg and "not writable" in msg
    finally:
        ro.chmod(0o755)


@pytest.mark.parametrize("name", ["a b/c", "../evil", "a b", ".."])
def test_simulate_name_must_be_a_plain_stem(tmp_path: Path, name: str) -> None:
    out = tmp_path / "s"
    msg = one_line_error(simulate("--out", str(out), "--talkers", "1", "--duration", "3", "--name", name), 64)
    assert "--name" in msg
    assert not out.exists() and not (tmp_path / "evil.wav").exists()


# -- 5. a duration too short for every talker ----------------------------------------------------
@needs_espeak
def test_simulate_warns_when_the_duration_is_too_short_for_the_talkers(tmp_path: Path) -> None:
    out = tmp_path / "s"
    res = simulate("--out", str(out), "--talkers", "2", "--duration", "3", "--seed", "1", "--rt60", "0.2", "--room", "4x4x2.7",
                   "--array", "respeaker4", "--snr", "none")
    assert res.returncode == 0, res.stderr
    warning = [ln for ln in res.stderr.splitlines() if ln.startswith("meetflow: warning: ")]
    assert len(warning) == 1, res.stderr
    assert "--duration 3 s is too short for 2 talkers" in warning[0] and "never speaks" in warning[0] and "--talkers" in warning[0]
    assert "note: the recording lasts" in res.stderr and "longer than --duration 3" in res.stderr
    assert len({line.split()[7] for line in (out / "reference.rttm").read_text().splitlines()}) == 1


# -- 6. graph --output ---------------------------------------------------------------------------
def test_graph_output_errors(tmp_path: Path) -> None:
    msg = one_line_error(run_cli("graph", MEETING_GRAPH, "--output", "/nonexistent/dir/x.dot"), 5)
    assert "/nonexistent/dir" in msg
    (tmp_path / "adir").mkdir()
    msg = one_line_error(run_cli("graph", MEETING_GRAPH, "--output", str(tmp_path / "adir")), 5)
    assert "is a folder" in msg
    (tmp_path / "afile").write_text("x")
    msg = one_line_error(run_cli("graph", MEETING_GRAPH, "--output", str(tmp_path / "afile" / "x.dot")), 5)
    assert "is a file" in msg
    mine = tmp_path / "g.json"
    shutil.copy(MEETING_GRAPH, mine)
    before = mine.read_text()
    msg = one_line_error(run_cli("graph", str(mine), "--output", str(mine)), 5)
    assert "the graph itself" in msg and mine.read_text() == before
    res = run_cli("graph", MEETING_GRAPH, "--output", str(tmp_path / "ok.dot"))
    assert res.returncode == 0 and (tmp_path / "ok.dot").read_text().startswith('digraph "meeting"')


def test_graph_output_read_only_folder(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        msg = one_line_error(run_cli_unprivileged("graph", MEETING_GRAPH, "--output", str(ro / "x.dot")), 5)
        assert "cannot write" in msg
    finally:
        ro.chmod(0o755)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_graph_stdout_full() -> None:
    import subprocess
    import sys

    from conftest import ROOT

    with open("/dev/full", "w") as full:
        res = subprocess.run([sys.executable, "-m", "pipeline.cli.main", "graph", MEETING_GRAPH], stdout=full, stderr=subprocess.PIPE,
                             text=True, timeout=60, cwd=ROOT)
    assert res.returncode == 5, res.stderr
    assert res.stderr.strip() == "meetflow: cannot write to standard output: No space left on device", res.stderr


# -- 7 and 8. eval diarization -------------------------------------------------------------------
def _rttm(path: Path, turns: list[tuple[str, float, float, str]]) -> Path:
    path.write_text("".join(f"SPEAKER {f} 1 {a:.3f} {b - a:.3f} <NA> <NA> {s} <NA> <NA>\n" for f, a, b, s in turns))
    return path


def test_eval_diarization_negative_collar_is_a_usage_error(tmp_path: Path) -> None:
    ref = _rttm(tmp_path / "ref.rttm", [("m", 0.0, 5.0, "A")])
    msg = usage_error(run_cli("eval", "diarization", "--ref", str(ref), "--hyp", str(ref), "--collar", "-1"))
    assert "--collar" in msg and "-1" in msg
    # a usage error comes first, whatever the files
    msg = usage_error(run_cli("eval", "diarization", "--ref", "nosuch.rttm", "--hyp", "nosuch.rttm", "--collar", "-0.5"))
    assert "--collar" in msg


def test_eval_transcript_negative_collar_is_a_usage_error(tmp_path: Path) -> None:
    seg = tmp_path / "ref.json"
    seg.write_text(json.dumps([{"session_id": "m", "speaker": "A", "start_time": 0.0, "end_time": 2.0, "words": "hello there"}]))
    msg = usage_error(run_cli("eval", "transcript", "--ref", str(seg), "--hyp", str(seg), "--collar", "-1"))
    assert "--collar" in msg


def test_eval_diarization_der_undefined_without_reference_speech(tmp_path: Path) -> None:
    ref = _rttm(tmp_path / "ref.rttm", [("m", 0.0, 5.0, "A"), ("m", 6.0, 9.0, "B")])
    hyp = _rttm(tmp_path / "hyp.rttm", [("m", 0.0, 5.0, "x"), ("m", 12.0, 15.0, "y")])
    uem = tmp_path / "late.uem"
    uem.write_text("m 1 10 20\n")
    out = tmp_path / "der.json"
    res = run_cli("eval", "diarization", "--ref", str(ref), "--hyp", str(hyp), "--uem", str(uem), "--json", str(out))
    assert res.returncode == 0, res.stderr
    assert "0.0%" not in res.stdout and "100.0%" not in res.stdout and "e+" not in res.stdout, res.stdout
    assert "n/a" in res.stdout and "note: DER is undefined" in res.stdout and str(uem) in res.stdout
    assert "3.0 s of hypothesis speech there" in res.stdout
    doc = json.loads(out.read_text())
    assert doc["der"] is None and doc["per_file"] == {"m": None} and doc["total_speech_s"] == 0.0
    # one file without speech among others: that file is n/a, the overall DER is a number
    _rttm(ref, [("m", 0.0, 5.0, "A"), ("n", 0.0, 5.0, "A")])
    _rttm(hyp, [("m", 0.0, 5.0, "A"), ("n", 0.0, 5.0, "A")])
    uem.write_text("m 1 10 20\nn 1 0 10\n")
    res = run_cli("eval", "diarization", "--ref", str(ref), "--hyp", str(hyp), "--uem", str(uem))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["m", "DER", "n/a"] and lines[1].split() == ["n", "DER", "0.0%"]
    assert lines[2].split()[:3] == ["all", "DER", "0.0%"] and "DER is undefined for m" in res.stdout


def test_eval_diarization_says_when_it_pairs_files_of_other_names(tmp_path: Path) -> None:
    """One file on each side is scored as one meeting whatever the names (meetflow's 'meeting' against a reference named
    after the recording); a user who gave the wrong hypothesis must be able to see that it happened."""
    ref = _rttm(tmp_path / "ref.rttm", [("trn01", 0.0, 5.0, "MÉO069")])
    hyp = _rttm(tmp_path / "hyp.rttm", [("meeting", 0.0, 5.0, "spk1")])
    res = run_cli("eval", "diarization", "--ref", str(ref), "--hyp", str(hyp))
    assert res.returncode == 0, res.stderr
    assert "0.0%" in res.stdout and "'meeting', was scored against the reference's one file, 'trn01'" in res.stdout
    res = run_cli("eval", "diarization", "--ref", str(ref), "--hyp", str(ref))
    assert res.returncode == 0 and "note:" not in res.stdout, res.stdout


@pytest.mark.parametrize("case,status,message", [
    ("tracks_not_jsonl", 3, "not a JSON line"),
    ("plot_not_image", 64, "name an image file"),
    ("negative_gate", 64, "--gate: expected degrees"),
])
def test_eval_doa_bad_inputs(tmp_path: Path, case: str, status: int, message: str) -> None:
    """A file of another kind given as --tracks is named at its line (not scored as 'no tracks'), and options that cannot
    mean anything are the command line's error."""
    truth = tmp_path / "truth.jsonl"
    truth.write_text("".join(json.dumps({"t": 0.1 * i, "speaker": "spk1", "azimuth_deg": 30.0}) + "\n" for i in range(20)))
    tracks = tmp_path / "tracks.jsonl"
    tracks.write_text("".join(json.dumps({"t": 0.1 * i, "track_id": 1, "azimuth_deg": 31.0}) + "\n" for i in range(20)))
    args = ["eval", "doa", "--truth", str(truth), "--tracks", str(tracks)]
    if case == "tracks_not_jsonl":
        rttm = tmp_path / "transcript.rttm"
        rttm.write_text("SPEAKER meeting 1 0.000 1.000 <NA> <NA> spk1 <NA> <NA>\n")
        args[-1] = str(rttm)
    elif case == "plot_not_image":
        args += ["--plot", str(tmp_path / "doa.txt")]
    elif case == "negative_gate":
        args += ["--gate", "-3"]
    res = run_cli(*args)
    assert res.returncode == status, res.stderr
    assert message in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "doa.txt").exists()
