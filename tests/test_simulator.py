"""The meeting simulator: determinism, references, geometry (a simulated talker's direction is found)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import run_cli
from sim_meetings import meeting, needs_espeak

pytestmark = needs_espeak


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_same_meeting_and_scenario_reproduces(tmp_path: Path) -> None:
    from nodes.sim.meeting import render, write_outputs
    from nodes.sim.scenario import MeetingConfig, Scenario, generate

    cfg = MeetingConfig(talkers=2, walking=1, duration_s=6.0, rt60=0.25, snr_db=20.0, room=(4.5, 4.0, 2.7), sentences=(1, 1), overlap=0.0)
    a = write_outputs(render(generate(cfg, 3)), tmp_path / "a")
    b = write_outputs(render(generate(cfg, 3)), tmp_path / "b")
    for role in ("audio", "rttm", "seglst", "truth", "scenario"):
        assert _sha(a[role]) == _sha(b[role]), role
    # the scenario file alone renders the same recording, bit for bit
    again = Scenario.model_validate_json(a["scenario"].read_text())
    c = write_outputs(render(again), tmp_path / "c")
    assert _sha(c["audio"]) == _sha(a["audio"]) and _sha(c["truth"]) == _sha(a["truth"])
    # another seed gives another meeting
    d = write_outputs(render(generate(cfg, 4)), tmp_path / "d")
    assert _sha(d["audio"]) != _sha(a["audio"])


def test_outputs_and_references() -> None:
    from meeteval.io import SegLST

    folder = meeting(talkers=2, duration=12.0, seed=1)
    x, rate = sf.read(folder / "meeting.wav")
    assert rate == 16000 and x.shape[1] == 7 and 11.5 < len(x) / rate < 14.0
    assert 0.5 < np.max(np.abs(x)) <= 0.72  # peak at -3 dBFS
    scenario = json.loads((folder / "scenario.json").read_text())
    assert scenario["array"]["geometry"] == "circular7" and scenario["seed"] == 1
    rttm = [line.split() for line in (folder / "reference.rttm").read_text().splitlines()]
    assert len(rttm) == len(scenario["utterances"]) and {r[7] for r in rttm} == {"spk1", "spk2"}
    segs = SegLST.new(json.loads((folder / "reference.seglst.json").read_text()))  # MeetEval takes it
    texts = [s["words"] for s in segs]
    assert all(t and t[0].isupper() for t in texts) and {s["session_id"] for s in segs} == {"meeting"}
    for r, u in zip(rttm, scenario["utterances"]):
        assert float(r[3]) == pytest.approx(u["start"], abs=1e-3)
    for seg in segs:  # synthesised speech: every word with its time, inside its segment, in order
        words = seg["word_times"]
        assert [w[0] for w in words] == seg["words"].replace(",", "").replace(".", "").replace("?", "").split()
        assert seg["start_time"] - 0.01 <= words[0][1] and words[-1][2] <= seg["end_time"] + 0.01
        assert all(a[1] <= a[2] <= b[1] + 1e-6 for a, b in zip(words, words[1:]))
    truth = [json.loads(line) for line in (folder / "truth_azimuth.jsonl").read_text().splitlines()]
    assert truth and set(truth[0]) == {"t", "speaker", "azimuth_deg"}
    # truth lines only while a talker is audible: inside that talker's turns
    turns = {(r[7], float(r[3]), float(r[3]) + float(r[4])) for r in rttm}
    for row in truth[::7]:
        assert any(s == row["speaker"] and a - 0.1 <= row["t"] <= b + 0.1 for s, a, b in turns)


def test_espeak_word_times_follow_the_audio() -> None:
    from nodes.sim.word_times import speak

    text = "We should ask the finance team for a clear answer before Friday."
    x, words = speak(text, "en-us+m3")
    assert [w.text for w in words] == text.rstrip(".").split()  # "for a" is one word event in espeak: still two words
    frame = 160
    energy = np.array([np.mean(x[i : i + frame] ** 2) for i in range(0, len(x) - frame, frame)])
    loud = energy > energy.max() * 1e-3
    for w in words:  # audio is loud inside words
        a, b = int(w.t0 * 100), int(w.t1 * 100)
        assert loud[a:max(b, a + 1)].mean() > 0.6, w
    again, words2 = speak(text, "en-us+m3")
    assert np.array_equal(x, again) and words == words2


def test_walking_talker_moves() -> None:
    from nodes.sim.scenario import Scenario

    folder = meeting(talkers=2, walking=1, duration=14.0, seed=2)
    sc = Scenario.model_validate_json((folder / "scenario.json").read_text())
    walker = next(t for t in sc.talkers if t.walking)
    truth = [json.loads(line) for line in (folder / "truth_azimuth.jsonl").read_text().splitlines()]
    az = [r["azimuth_deg"] for r in truth if r["speaker"] == walker.id]
    assert len(az) > 10
    pos = np.array([walker.position_at(t) for t in np.linspace(0, 14, 30)])
    assert np.max(np.linalg.norm(pos[:, :2] - pos[0, :2], axis=1)) > 0.3  # they walk


def test_a_walkers_utterance_image_is_what_render_places() -> None:
    """``MovingSource.image`` (what the meeting adds in place, utterance by utterance) is ``render``'s placed image: the
    hour-long simulation no longer builds a whole-length copy per utterance, and renders the same recording."""
    from nodes.sim.room import MovingSource, RoomSpec

    mics = np.array([[2.0, 2.0, 1.0], [2.05, 2.0, 1.0], [2.0, 2.05, 1.0]])
    src = MovingSource(RoomSpec((4.5, 4.0, 2.7), 0.3), mics)
    dry = np.random.default_rng(0).standard_normal(4000)

    def walk(t: float) -> tuple[float, float, float]:
        return (1.0 + 0.5 * t, 3.0, 1.2)

    placed = src.render(dry, 1000, walk, 16000)
    img = src.image(dry, 1000, walk)
    assert img.shape[1] > len(dry)  # the utterance and its reverberant tail
    end = min(16000, 1000 + img.shape[1])
    assert np.array_equal(placed[:, 1000:end], img[:, : end - 1000])
    assert not placed[:, :1000].any() and not placed[:, end:].any()
    late = src.render(dry, 14000, walk, 16000)  # cut at the recording's end
    assert np.array_equal(late[:, 14000:], src.image(dry, 14000, walk)[:, :2000])


def test_chunked_convolution_is_the_whole_convolution() -> None:
    """``add_convolved`` convolves a long recording chunk by chunk (bounded memory) and skips silent chunks; the sum is
    the convolution of the whole, tails across chunk edges and the recording's end included."""
    from scipy.signal import oaconvolve

    from nodes.sim.room import add_convolved

    rng = np.random.default_rng(1)
    dry = rng.standard_normal(10_000)
    dry[3000:6500] = 0.0  # a silent chunk (of 1,000) is skipped
    h = rng.standard_normal((3, 700))
    whole = oaconvolve(dry[None, :], h, axes=1)
    out = np.zeros((3, 10_300))
    add_convolved(out, dry, h, chunk=1000)
    assert np.allclose(out, whole[:, :10_300], atol=1e-9)
    longer = np.ones((3, 11_000))
    add_convolved(longer, dry, h, chunk=4096)
    assert np.allclose(longer[:, : whole.shape[1]] - 1.0, whole, atol=1e-9) and np.all(longer[:, whole.shape[1]:] == 1.0)


def test_a_talker_away_starts_no_turn_until_back() -> None:
    """--away: a long silence and a return (what the diariser's memory past its horizon is tested on)."""
    from nodes.sim.scenario import MeetingConfig, generate

    plain = MeetingConfig(talkers=3, duration_s=80.0)
    away = MeetingConfig(talkers=3, duration_s=80.0, away=[("spk2", 8.0, 60.0)])
    sc = generate(away, 5)
    starts = [u.start for u in sc.utterances if u.speaker == "spk2"]
    assert starts and not any(8.0 <= t < 60.0 for t in starts) and max(starts) >= 60.0  # silent while away, then back
    assert {u.speaker for u in sc.utterances if 8.0 <= u.start < 60.0} == {"spk1", "spk3"}  # the others carry on
    assert sc.generator["away"] == [["spk2", 8.0, 60.0]]  # scenario.json says how it was drawn
    assert generate(plain, 5) == generate(MeetingConfig(talkers=3, duration_s=80.0, away=[]), 5)


def test_static_talker_direction_is_found(tmp_path: Path) -> None:
    # a single seated talker: DOA + tracking find the simulated direction within a few degrees
    from nodes.sim.meeting import render, write_outputs
    from nodes.sim.scenario import MeetingConfig, generate

    cfg = MeetingConfig(talkers=1, duration_s=6.0, rt60=0.4, snr_db=20.0, room=(5.0, 4.0, 2.8), sentences=(1, 1))
    sim = write_outputs(render(generate(cfg, 11)), tmp_path / "sim")
    truth = [json.loads(line) for line in sim["truth"].read_text().splitlines()]
    out = tmp_path / "out"
    r = run_cli("run", "graphs/array.json", "--input", str(sim["audio"]), "--out", str(out), "-q")
    assert r.returncode == 0, r.stderr
    tracks = [json.loads(line) for line in (out / "tracks.jsonl").read_text().splitlines()]
    assert {t["track_id"] for t in tracks} == {1}
    from nodes.array.geometry import angle_diff

    err = np.median([abs(angle_diff(t["azimuth_deg"], truth[0]["azimuth_deg"])) for t in tracks])
    assert err < 3.0


def test_clips_folder(tmp_path: Path) -> None:
    from nodes.sim.meeting import render, seglst
    from nodes.sim.scenario import MeetingConfig, generate
    from nodes.sim.tts import synthesize

    clips = tmp_path / "clips"
    lines = {"ann": ["Hello there, how are you today?", "Let us look at the plan."], "ben": ["I am fine, thank you.", "The plan looks good to me."]}
    for spk, texts in lines.items():
        (clips / spk).mkdir(parents=True)
        for k, text in enumerate(texts):
            sf.write(clips / spk / f"c{k}.wav", synthesize(text, "en-us+m3" if spk == "ann" else "en+f2"), 16000)
            if k == 0:
                (clips / spk / f"c{k}.txt").write_text(text)
            else:
                words = [{"text": w, "start": 0.1 * i, "end": 0.1 * i + 0.08} for i, w in enumerate(text.split())]
                (clips / spk / f"c{k}.json").write_text(json.dumps({"text": text, "words": words}))
    cfg = MeetingConfig(talkers=2, duration_s=8.0, rt60=0.25, snr_db=None, room=(4.0, 4.0, 2.7), clips=str(clips))
    m = render(generate(cfg, 0))
    segs = seglst(m)
    assert {s["words"] for s in segs} <= {t for ts in lines.values() for t in ts}
    assert all(t.voice is None for t in m.scenario.talkers)
    timed = [s for s in segs if "word_times" in s]
    for s in timed:  # word times shifted into the recording's time line
        assert s["start_time"] - 0.05 <= s["word_times"][0][1] <= s["end_time"]


def test_simulate_command(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    r = run_cli("simulate", "--out", str(out), "--seed", "2", "--talkers", "2", "--duration", "6", "--rt60", "0.25",
                "--snr", "18", "--room", "4.5x4x2.7", "--array", "respeaker4")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["meeting.wav", "reference.rttm", "reference.seglst.json", "scenario.json", "truth_azimuth.jsonl"]
    assert sf.info(str(out / "meeting.wav")).channels == 4
    assert "2 talkers" in r.stderr and "respeaker4" in r.stderr
    again = tmp_path / "again"
    r = run_cli("simulate", "--out", str(again), "--scenario", str(out / "scenario.json"))
    assert r.returncode == 0, r.stderr
    assert _sha(again / "meeting.wav") == _sha(out / "meeting.wav")


@pytest.mark.parametrize("args, code, message", [
    (["--talkers", "2", "--walking", "3"], 64, "walking"),
    (["--rt60", "fast"], 64, "range"),
    (["--room", "6x5"], 64, "LENGTHxWIDTHxHEIGHT"),
    (["--array", "nosuch"], 64, "unknown array"),
    (["--clips", "/nonexistent/clips"], 3, "not a folder"),
    (["--scenario", "/nonexistent/scenario.json"], 3, "no such file"),
    (["--away", "spk9:1:2"], 64, "--away: no talker 'spk9'"),
    (["--away", "spk2:5"], 64, "TALKER:FROM:TO"),
    (["--away", "spk2:5:3"], 64, "0 <= FROM < TO"),
])
def test_simulate_bad_options(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    r = run_cli("simulate", "--out", str(tmp_path / "x"), "--duration", "4", *args)
    assert r.returncode == code, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr


def test_simulate_rejects_a_broken_scenario(tmp_path: Path) -> None:
    bad = tmp_path / "scenario.json"
    bad.write_text(json.dumps({"duration_s": 5, "room": {"size": [5, 4, 3], "rt60": 0.3}}))
    r = run_cli("simulate", "--out", str(tmp_path / "x"), "--scenario", str(bad))
    assert r.returncode == 3 and "not a meetflow scenario" in r.stderr
