"""Render a meeting scenario into a multichannel recording plus its references.

``render(scenario)`` places every utterance in the room (static talkers: full image-source
responses; walking talkers: time-varying responses, see ``room.py``), adds background noise
at the scenario's SNR and returns the recording with what is known about it.
``write_outputs`` writes what ``meetflow simulate`` promises:

| file | what |
|---|---|
| ``<name>.wav`` | the array recording (channels in geometry order), 16-bit |
| ``reference.rttm`` | who spoke when (one line per utterance) |
| ``reference.seglst.json`` | the reference transcript (MeetEval SegLST; per-word times where known) |
| ``truth_azimuth.jsonl`` | lines ``{t, speaker, azimuth_deg}`` while each talker is audible |
| ``scenario.json`` | the scenario: ``meetflow simulate --scenario scenario.json`` renders it again, bit for bit |
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..array.geometry import azimuth_of, round_az
from .noise import diffuse_noise, sensor_noise
from .room import MovingSource, RoomSpec, add_at, add_convolved, impulse_responses
from .scenario import Scenario
from .speech import Clip, SpeechBank, Utterance, WordTime, read_transcript


@dataclass
class Segment:
    """One utterance as it landed in the recording (reference times, seconds)."""

    speaker: str
    t0: float
    t1: float
    text: str
    words: list[WordTime] | None = None


@dataclass
class SimulatedMeeting:
    scenario: Scenario
    audio: np.ndarray  # (frames, mics) float32, peak at render.peak_dbfs
    rate: int
    segments: list[Segment] = field(default_factory=list)
    truth: list[dict] = field(default_factory=list)  # {t, speaker, azimuth_deg}
    active: dict[str, np.ndarray] = field(default_factory=dict)  # per talker: activity per truth step

    @property
    def duration(self) -> float:
        return len(self.audio) / self.rate


def _utterance(bank: SpeechBank, scenario: Scenario, u) -> Utterance:  # noqa: ANN001 - UtteranceModel
    if u.clip:
        path = Path(u.clip)
        if not path.exists():
            raise FileNotFoundError(f"{path}: clip of the scenario not found")
        text, words = read_transcript(path)
        return bank.clip(Clip(path, u.speaker, u.text or text, words))
    voice = scenario.talker(u.speaker).voice
    if not voice:
        raise ValueError(f"talker {u.speaker} has neither a voice nor clips")
    return bank.espeak(u.text, voice)


def _activity(x: np.ndarray, rate: int, step: int, threshold_db: float = -35.0, fill_s: float = 0.3) -> np.ndarray:
    """Frames of ``step`` samples in which a dry track is audible (short gaps filled)."""
    frames = len(x) // step
    if frames == 0:
        return np.zeros(0, dtype=bool)
    e = np.mean(x[: frames * step].reshape(frames, step).astype(np.float64) ** 2, axis=1)
    ref = np.max(e) if np.any(e > 0) else 1.0
    act = e > ref * 10 ** (threshold_db / 10)
    gap = int(round(fill_s * rate / step))
    idx = np.flatnonzero(act)
    for a, b in zip(idx[:-1], idx[1:]):
        if 1 < b - a <= gap + 1:
            act[a:b] = True
    return act


def render(scenario: Scenario, bank: SpeechBank | None = None) -> SimulatedMeeting:
    """Simulate the recording of a scenario (deterministic)."""
    rate = scenario.rate
    bank = bank or SpeechBank(rate)
    rng = np.random.default_rng([scenario.seed, 1])  # noise stream, independent of the scenario draw
    n = int(round(scenario.duration_s * rate))
    mics_local = np.asarray(scenario.array.mics, dtype=np.float64)
    mics_room = mics_local + np.asarray(scenario.array.centre)[None, :]
    M = len(mics_room)
    spec = RoomSpec(tuple(scenario.room.size), scenario.room.rt60, rate)  # type: ignore[arg-type]
    r = scenario.render

    # dry speech per talker, each talker at the same active level (then its gain)
    dry: dict[str, np.ndarray] = {t.id: np.zeros(n, dtype=np.float64) for t in scenario.talkers}
    placed: list[tuple[str, int, Utterance]] = []
    segments: list[Segment] = []
    for u in scenario.utterances:
        utt = _utterance(bank, scenario, u)
        s0 = int(round(u.start * rate))
        if s0 >= n:
            continue
        x = utt.audio[: n - s0]
        dry[u.speaker][s0 : s0 + len(x)] += x
        placed.append((u.speaker, s0, utt))
        words = None
        if utt.words is not None:
            words = [WordTime(w.text, round(u.start + w.t0, 3), round(u.start + w.t1, 3)) for w in utt.words]
        segments.append(Segment(u.speaker, round(u.start, 3), round(u.start + len(x) / rate, 3), u.text or utt.text, words))
    step = max(1, int(round(r.truth_step_s * rate)))
    active = {tid: _activity(x, rate, step) for tid, x in dry.items()}
    for t in scenario.talkers:
        x = dry[t.id]
        act = np.repeat(active[t.id], step)[:n]
        level = np.sqrt(np.mean(x[: len(act)][act] ** 2)) if act.any() else 0.0
        if level > 0:
            dry[t.id] = x * (r.speech_rms / level) * 10 ** (t.gain_db / 20)

    # the room
    speech = np.zeros((M, n), dtype=np.float64)
    static = [t for t in scenario.talkers if not t.walking]
    rirs = impulse_responses(spec, mics_room, [t.position_at(0.0) for t in static])
    for t, h in zip(static, rirs):
        add_convolved(speech, dry[t.id], h)
    walker = MovingSource(spec, mics_room, r.walk_step_s, r.early_order, r.mix_ms)
    for t in scenario.talkers:
        if not t.walking:
            continue
        gain = np.max(np.abs(dry[t.id]))
        for spk, s0, utt in placed:
            if spk != t.id or gain == 0:
                continue
            seg = dry[t.id][s0 : s0 + len(utt.audio)]
            add_at(speech, walker.image(seg, s0, t.position_at), s0)  # in place: a whole-length copy per utterance cost 3 GB an hour

    # noise at the requested SNR (speech power at mic 0 over samples where anyone talks)
    mix = speech.T
    if scenario.noise.snr_db is not None:
        any_active = np.zeros(n, dtype=bool)
        for a in active.values():
            any_active[: len(a) * step] |= np.repeat(a, step)
        p_speech = float(np.mean(speech[0, any_active] ** 2)) if any_active.any() else float(np.mean(speech[0] ** 2))
        if scenario.noise.kind == "diffuse":
            noise = diffuse_noise(mics_local, n, rate, rng)
        else:
            noise = sensor_noise(n, M, rng)
        # in place, each step: at an hour and 7 mics every whole-length temporary is 3 GB
        sensor_gain = 10 ** (scenario.noise.sensor_db / 20)
        for c0 in range(0, n, 1 << 20):  # the same draws as one (n, M) block, a chunk at a time
            c1 = min(n, c0 + (1 << 20))
            noise[c0:c1] += sensor_noise(c1 - c0, M, rng) * sensor_gain
        p_noise = float(np.mean(noise[:, 0] ** 2))
        noise *= np.sqrt(p_speech / max(p_noise, 1e-20) / 10 ** (scenario.noise.snr_db / 10))
        mix += noise  # mix is speech.T: a view
        del noise
    peak = max(float(mix.max()), -float(mix.min())) or 1.0  # without np.abs's whole-length copy
    mix *= 10 ** (r.peak_dbfs / 20) / peak
    audio = mix.astype(np.float32)

    truth = []
    for k in range(n // step):
        tc = round((k + 0.5) * step / rate, 3)
        for t in scenario.talkers:
            a = active[t.id]
            if k < len(a) and a[k]:
                truth.append({"t": tc, "speaker": t.id, "azimuth_deg": round_az(azimuth_of(t.position_at(tc), scenario.array.centre))})
    segments.sort(key=lambda s: (s.t0, s.speaker))
    return SimulatedMeeting(scenario, audio, rate, segments, truth, active)


def rttm(meeting: SimulatedMeeting) -> str:
    name = meeting.scenario.name
    return "".join(f"SPEAKER {name} 1 {s.t0:.3f} {s.t1 - s.t0:.3f} <NA> <NA> {s.speaker} <NA> <NA>\n" for s in meeting.segments)


def seglst(meeting: SimulatedMeeting) -> list[dict]:
    """MeetEval SegLST: one entry per utterance; ``word_times`` lists [word, t0, t1] where known."""
    out = []
    for s in meeting.segments:
        d: dict = {"session_id": meeting.scenario.name, "speaker": s.speaker, "start_time": s.t0, "end_time": s.t1, "words": s.text}
        if s.words:
            d["word_times"] = [[w.text, w.t0, w.t1] for w in s.words]
        out.append(d)
    return out


def output_paths(out_dir: str | Path, name: str) -> dict[str, Path]:
    """The files ``write_outputs`` writes into ``out_dir`` for a recording called ``name``, by role."""
    folder = Path(out_dir)
    return {
        "audio": folder / f"{name}.wav",
        "rttm": folder / "reference.rttm",
        "seglst": folder / "reference.seglst.json",
        "truth": folder / "truth_azimuth.jsonl",
        "scenario": folder / "scenario.json",
    }


def write_outputs(meeting: SimulatedMeeting, out_dir: str | Path, subtype: str = "PCM_16") -> dict[str, Path]:
    """Write the recording and every reference into ``out_dir``; return the paths by role."""
    import soundfile as sf

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths = output_paths(folder, meeting.scenario.name)
    sf.write(str(paths["audio"]), meeting.audio, meeting.rate, subtype=subtype)
    paths["rttm"].write_text(rttm(meeting), encoding="utf-8")
    paths["seglst"].write_text(json.dumps(seglst(meeting), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    paths["truth"].write_text("".join(json.dumps(row) + "\n" for row in meeting.truth), encoding="utf-8")
    paths["scenario"].write_text(meeting.scenario.model_dump_json(indent=1) + "\n", encoding="utf-8")
    return paths
