"""Meeting scenarios: everything that defines a simulated meeting, generated from a seed.

A ``Scenario`` is concrete: room size and RT60, where the array sits, each talker's voice and
position (or walking trajectory), every utterance with its text and start time, the noise
level. Rendering a scenario is deterministic, so its JSON file reproduces the recording
exactly. ``generate(config, seed)`` draws a scenario from a few high-level settings (number
of talkers, how many walk, overlap, pauses, RT60, SNR); the same settings and seed give the
same scenario.
"""

from __future__ import annotations

import math
import re
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from ..array.geometry import PRESETS, azimuth_of, resolve_geometry
from .room import RoomError, RoomSpec
from .scripts import MEETING_LINES
from .speech import MEETING_VOICES, ClipPool, SpeechBank

SCENARIO_VERSION = 1

#: Sample rates a meeting can be simulated at (Hz).
MIN_RATE, MAX_RATE = 8000, 192000
#: Reverberation times a room can have (s): above the first, up to the second.
MIN_RT60, MAX_RT60 = 0.05, 2.0

_PLAIN_NAME = re.compile(r"\w[\w.+-]*")


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a recording (NAME.wav, and the session id in the references), or None.

    A plain file stem: letters, digits, '_', '-', '.', '+'; no path separators (the files
    stay in the output folder) and no spaces (RTTM fields are separated by spaces).
    """
    if not name:
        return "the name is empty"
    if "/" in name or "\\" in name or name in (".", ".."):
        return f"{name!r} is a path, not a name (no '/', '\\', '.' or '..'; the files go into the output folder)"
    if not _PLAIN_NAME.fullmatch(name):
        return f"{name!r} is not a plain name (use letters, digits, '_', '-', '.'; no spaces: it is the session id in RTTM)"
    if len(name.encode("utf-8")) > 200:
        return f"{name[:20]!r}... is too long for a file name"
    return None


def fmt_point(p) -> str:  # noqa: ANN001 - a sequence of numbers
    """``[1.2, 3, 0.75]``: plain numbers, as a user wrote them (not ``np.float64(1.2)``)."""
    return "[" + ", ".join(f"{float(v):g}" for v in p) + "]"


def fmt_size(size) -> str:  # noqa: ANN001 - (length, width, height)
    return "x".join(f"{float(v):g}" for v in size)


def rt60_problem(rt60: float, size) -> str | None:  # noqa: ANN001 - (length, width, height)
    """Why a room of ``size`` cannot have reverberation time ``rt60``, or None."""
    if not (math.isfinite(rt60) and MIN_RT60 < rt60 <= MAX_RT60):
        return f"RT60 {rt60:g} s is outside what can be simulated (above {MIN_RT60:g} s, at most {MAX_RT60:g} s)"
    try:
        RoomSpec(tuple(size), rt60).absorption()
    except RoomError:
        return (f"RT60 {rt60:g} s is not possible in a {fmt_size(size)} m room (its walls would have to absorb more than "
                "all the sound): a longer RT60 or a smaller room")
    return None


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RoomModel(_M):
    size: tuple[float, float, float] = Field(description="Room length, width, height (m).")
    rt60: float = Field(gt=MIN_RT60, le=MAX_RT60, description="Reverberation time (s).")

    @model_validator(mode="after")
    def _positive(self) -> "RoomModel":
        if not all(math.isfinite(v) and v > 0 for v in self.size):
            raise ValueError(f"room size {fmt_point(self.size)}: every side must be a positive number of metres")
        return self


class ArrayModel(_M):
    geometry: str = Field("circular7", description="Preset name or geometry file it came from (informational once 'mics' is set).")
    mics: list[tuple[float, float, float]] = Field(description="Mic positions in the array's frame (m), channel order.")
    centre: tuple[float, float, float] = Field(description="Where the array's origin sits in the room (m).")


class NoiseModel(_M):
    snr_db: float | None = Field(description="Speech-to-noise ratio at the first mic over active speech (dB); null = no noise.")
    kind: Literal["diffuse", "white"] = Field("diffuse", description="diffuse: pink, spatially diffuse room noise; white: independent per mic.")
    sensor_db: float = Field(-15.0, description="Independent mic self-noise, relative to the background noise (dB).")


class TalkerModel(_M):
    id: str
    voice: str | None = Field(None, description="espeak-ng voice (null when the talker's speech comes from clips).")
    gain_db: float = Field(0.0, description="Talker's speech level relative to the others (dB).")
    position: tuple[float, float, float] | None = Field(None, description="Fixed mouth position in the room (m).")
    trajectory: list[tuple[float, float, float, float]] | None = Field(None, description="Walking: waypoints [t, x, y, z]; in between the "
                                                                        "talker speeds up and slows down smoothly (smoothstep), as people do.")

    @model_validator(mode="after")
    def _one_place(self) -> "TalkerModel":
        if (self.position is None) == (self.trajectory is None):
            raise ValueError(f"talker {self.id}: give exactly one of 'position' and 'trajectory'")
        if self.trajectory is not None:
            ts = [w[0] for w in self.trajectory]
            if not ts or any(b < a for a, b in zip(ts, ts[1:])):
                raise ValueError(f"talker {self.id}: trajectory times must be increasing")
        return self

    @property
    def walking(self) -> bool:
        return self.trajectory is not None and len(self.trajectory) > 1

    def position_at(self, t: float) -> tuple[float, float, float]:
        if self.position is not None:
            return self.position
        assert self.trajectory is not None
        w = self.trajectory
        if t <= w[0][0]:
            return tuple(w[0][1:])  # type: ignore[return-value]
        for a, b in zip(w, w[1:]):
            if t <= b[0]:
                u = (t - a[0]) / (b[0] - a[0]) if b[0] > a[0] else 1.0
                u = u * u * (3.0 - 2.0 * u)  # smoothstep: zero speed at both waypoints
                return tuple(a[k] + u * (b[k] - a[k]) for k in (1, 2, 3))  # type: ignore[return-value]
        return tuple(w[-1][1:])  # type: ignore[return-value]


class UtteranceModel(_M):
    speaker: str
    start: float = Field(ge=0.0, description="Start of the first speech sample (s).")
    text: str = Field("", description="What is said (spoken by the talker's voice; the transcript for a clip).")
    clip: str | None = Field(None, description="Audio file of the utterance instead of synthesis.")


class RenderModel(_M):
    walk_step_s: float = Field(0.1, gt=0, le=1.0, description="Walking talkers: seconds between impulse responses.")
    early_order: int = Field(12, ge=1, description="Walking talkers: image order of the per-position early response.")
    mix_ms: float = Field(30.0, gt=0, description="Walking talkers: where the early response hands over to the shared late tail (ms).")
    peak_dbfs: float = Field(-3.0, le=0.0, description="Peak level of the written recording (dBFS).")
    speech_rms: float = Field(0.05, gt=0, description="RMS of each talker's dry speech before the room (full scale 1).")
    truth_step_s: float = Field(0.1, gt=0, description="Spacing of truth_azimuth.jsonl lines (s).")


class Scenario(_M):
    meetflow_scenario: int = SCENARIO_VERSION
    name: str = "meeting"
    seed: int = 0
    rate: int = Field(16000, ge=MIN_RATE, le=MAX_RATE, description="Sample rate (Hz).")
    duration_s: float = Field(gt=0, allow_inf_nan=False)
    room: RoomModel
    array: ArrayModel
    noise: NoiseModel
    talkers: list[TalkerModel]
    utterances: list[UtteranceModel]
    render: RenderModel = Field(default_factory=RenderModel)
    generator: dict | None = Field(None, description="The settings the scenario was drawn from (informational).")

    @model_validator(mode="after")
    def _check(self) -> "Scenario":
        ids = [t.id for t in self.talkers]
        if len(set(ids)) != len(ids):
            raise ValueError("talker ids must be unique")
        for u in self.utterances:
            if u.speaker not in ids:
                raise ValueError(f"utterance by unknown talker {u.speaker!r}")
        return self

    def talker(self, talker_id: str) -> TalkerModel:
        return next(t for t in self.talkers if t.id == talker_id)

    def problems(self) -> list[str]:
        """What would stop this scenario from rendering (beyond its schema): each a one-line message.

        The name, whether the room can have its RT60, and whether the array and every talker
        (every waypoint of a walk) are inside the room. Voices are checked by
        ``tts.check_voices`` (that needs espeak-ng).
        """
        out = []
        if why := name_problem(self.name):
            out.append(f"name: {why}")
        size = self.room.size
        if why := rt60_problem(self.room.rt60, size):
            out.append(f"room: {why}")
        spec = RoomSpec(tuple(size), self.room.rt60, self.rate)  # type: ignore[arg-type]
        c = self.array.centre
        outside = [m for m in self.array.mics if not spec.inside([c[k] + m[k] for k in range(3)], margin=0.0)]
        if outside:
            out.append(f"array: mic {fmt_point([c[k] + outside[0][k] for k in range(3)])} (centre {fmt_point(c)} plus its offset) "
                       f"is outside the {fmt_size(size)} m room")
        for t in self.talkers:
            points = [t.position] if t.position is not None else [w[1:] for w in (t.trajectory or [])]
            for p in points:
                if not spec.inside(p):
                    where = "at" if t.position is not None else "walks to"
                    out.append(f"talker {t.id} {where} {fmt_point(p)}, outside the {fmt_size(size)} m room "
                               "(each coordinate between 0.05 m and the room's side less 0.05 m)")
                    break
        return out

    def azimuth(self, talker_id: str, t: float) -> float:
        """True azimuth (deg) of a talker at media time ``t``, seen from the array's origin."""
        return azimuth_of(self.talker(talker_id).position_at(t), self.array.centre)


class MeetingConfig(_M):
    """High-level settings a scenario is drawn from (``meetflow simulate`` options)."""

    talkers: int = Field(4, ge=1, le=8)
    walking: int = Field(0, ge=0, description="How many of the talkers walk around.")
    duration_s: float = Field(60.0, gt=2, allow_inf_nan=False)
    rt60: float | tuple[float, float] = Field((0.3, 0.6), description="Reverberation time, or a range to draw from (s).")
    snr_db: float | tuple[float, float] | None = Field((15.0, 20.0), description="SNR, or a range to draw from (dB); null = no noise.")
    noise: Literal["diffuse", "white"] = "diffuse"
    array: str = "circular7"
    room: tuple[float, float, float] | None = Field(None, description="Room size (m); default: drawn from a meeting-room range.")
    overlap: float = Field(0.1, ge=0, le=1, description="Share of turns that start before the previous one ended.")
    overlap_s: tuple[float, float] = Field((0.4, 1.5), description="How far an overlapping turn reaches back (s).")
    pause_s: tuple[float, float] = Field((0.3, 1.5), description="Silence between non-overlapping turns (s).")
    sentences: tuple[int, int] = Field((1, 2), description="Sentences per turn (synthesised speech).")
    min_separation_deg: float = Field(30.0, ge=0, le=90, description="Smallest azimuth difference between seated talkers.")
    distance_m: tuple[float, float] = Field((0.9, 2.0), description="Talkers' horizontal distance from the array (m).")
    walk_speed: tuple[float, float] = Field((0.3, 0.6), description="Average walking speed between stops (m/s); the peak is 1.5 times that.")
    voices: list[str] | None = Field(None, description="espeak-ng voices, one per talker (default: distinct clear voices).")
    clips: str | None = Field(None, description="Folder of the user's clips to use instead of synthesis.")
    rate: int = Field(16000, ge=MIN_RATE, le=MAX_RATE)
    name: str = "meeting"
    lead_s: float = Field(0.5, ge=0, description="Silence before the first turn (s).")
    away: list[tuple[str, float, float]] = Field(default_factory=list, description="Talkers out of the room: (talker, from, to) in "
                                                 "seconds; they start no turn in between (a long silence, then a return).")
    render: RenderModel = Field(default_factory=RenderModel)

    @model_validator(mode="after")
    def _check(self) -> "MeetingConfig":
        if self.walking > self.talkers:
            raise ValueError(f"walking ({self.walking}) cannot exceed talkers ({self.talkers})")
        if self.voices is not None and len(self.voices) < self.talkers:
            raise ValueError(f"{len(self.voices)} voice(s) for {self.talkers} talkers")
        return self

    @field_validator("away")
    @classmethod
    def _check_away(cls, away: list[tuple[str, float, float]], info: ValidationInfo) -> list[tuple[str, float, float]]:
        ids = [f"spk{i + 1}" for i in range(info.data.get("talkers", 0))]
        for who, a, b in away:
            if who not in ids:
                raise ValueError(f"no talker {who!r} (the talkers are {', '.join(ids)})")
            if not (math.isfinite(a) and math.isfinite(b) and 0 <= a < b):
                raise ValueError(f"{who} away from {a:g} to {b:g} s: expected 0 <= FROM < TO")
        return away

    def present(self, who: str, t: float) -> bool:
        """Whether talker ``who`` is in the room at ``t`` (s)."""
        return not any(w == who and a <= t < b for w, a, b in self.away)


def _draw(rng: np.random.Generator, v: float | tuple[float, float] | None) -> float | None:
    if v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    return float(rng.uniform(v[0], v[1]))


def _seat(rng: np.random.Generator, centre: np.ndarray, size: tuple[float, float, float], dist: tuple[float, float], z: float,
          taken: list[float], min_sep: float, margin: float = 0.4) -> np.ndarray:
    """A mouth position around the array, inside the room, away from the other talkers' azimuths."""
    sep = min_sep
    for attempt in range(4000):
        if attempt and attempt % 1000 == 0:
            sep *= 0.7  # a crowded table: relax the separation rather than fail
        az = rng.uniform(-math.pi, math.pi)
        r = rng.uniform(*dist)
        p = np.array([centre[0] + r * math.cos(az), centre[1] + r * math.sin(az), z])
        if not (margin <= p[0] <= size[0] - margin and margin <= p[1] <= size[1] - margin):
            continue
        a = math.degrees(az)
        if all(abs((a - b + 180) % 360 - 180) >= sep for b in taken):
            return p
    raise RoomError(f"cannot seat a talker {dist[0]:g}-{dist[1]:g} m from the array inside a {size[0]:g}x{size[1]:g} m room "
                    "(a larger --room, or fewer talkers)")


def _walk(rng: np.random.Generator, start: np.ndarray, centre: np.ndarray, size: tuple[float, float, float], duration: float,
          speed: tuple[float, float], margin: float = 0.5) -> list[tuple[float, float, float, float]]:
    """Waypoints of a talker who stands a while, walks somewhere else, stands, walks on."""
    pts = [(0.0, *map(float, start))]
    t, p = 0.0, start.copy()
    while t < duration:
        t += float(rng.uniform(1.0, 4.0))  # stand
        pts.append((t, *map(float, p)))
        for _ in range(200):
            q = np.array([rng.uniform(margin, size[0] - margin), rng.uniform(margin, size[1] - margin), p[2]])
            d = float(np.hypot(*(q - p)[:2]))
            if d < 0.8:
                continue
            # keep clear of the table: the segment's closest approach to the array >= 0.8 m
            u = np.clip(np.dot((centre - p)[:2], (q - p)[:2]) / (d * d), 0.0, 1.0)
            closest = p[:2] + u * (q - p)[:2]
            if np.hypot(*(closest - centre[:2])) >= 0.8 and np.hypot(*(q - centre)[:2]) <= 3.0:
                break
        else:
            break
        t += d / float(rng.uniform(*speed))
        p = q
        pts.append((t, *map(float, p)))
    return [tuple(round(v, 4) for v in w) for w in pts]  # type: ignore[misc]


def generate(config: MeetingConfig, seed: int, bank: SpeechBank | None = None) -> Scenario:
    """Draw a concrete scenario from ``config``; deterministic for a given seed."""
    rng = np.random.default_rng(seed)
    bank = bank or SpeechBank(config.rate)
    size = config.room or (round(float(rng.uniform(5.0, 8.0)), 2), round(float(rng.uniform(4.0, 6.5)), 2), round(float(rng.uniform(2.7, 3.2)), 2))
    rt60 = round(_draw(rng, config.rt60) or 0.4, 3)
    if why := rt60_problem(rt60, size):
        raise RoomError(why)
    snr = _draw(rng, config.snr_db)
    geometry = resolve_geometry(config.array)
    if geometry is None:
        raise ValueError("a simulated meeting needs an array geometry, not 'none'")
    centre = np.array([size[0] / 2 + rng.uniform(-0.4, 0.4), size[1] / 2 + rng.uniform(-0.4, 0.4), 0.75])

    n = config.talkers
    walking = set(rng.choice(n, size=config.walking, replace=False).tolist()) if config.walking else set()
    voices = list(config.voices) if config.voices else [MEETING_VOICES[i % len(MEETING_VOICES)] for i in range(n)]
    pool = ClipPool.from_folder(config.clips, n, rng) if config.clips else None
    talkers: list[TalkerModel] = []
    taken: list[float] = []
    for i in range(n):
        tid = f"spk{i + 1}"
        z = float(rng.uniform(1.5, 1.7)) if i in walking else float(rng.uniform(1.1, 1.3))
        p = _seat(rng, centre, size, config.distance_m, z, taken, config.min_separation_deg)
        taken.append(math.degrees(math.atan2(p[1] - centre[1], p[0] - centre[0])))
        gain = round(float(rng.uniform(-2.0, 2.0)), 2)
        voice = None if pool else voices[i]
        if i in walking:
            traj = _walk(rng, p, centre, size, config.duration_s + 5.0, config.walk_speed)
            talkers.append(TalkerModel(id=tid, voice=voice, gain_db=gain, trajectory=traj))
        else:
            talkers.append(TalkerModel(id=tid, voice=voice, gain_db=gain, position=tuple(round(float(v), 4) for v in p)))  # type: ignore[arg-type]

    lines = [MEETING_LINES[i] for i in rng.permutation(len(MEETING_LINES))]
    order = list(rng.permutation(n))
    utterances: list[UtteranceModel] = []
    prev_start, prev_end, prev = 0.0, config.lead_s, -1
    line = 0
    while True:
        here = [k for k in range(n) if config.present(talkers[k].id, prev_end)] or list(range(n))  # everyone away: someone speaks
        ready = [k for k in order if k in here]  # the first round: everyone present speaks once
        if ready:
            who = int(ready[0])
            order.remove(ready[0])
        else:
            choices = [k for k in here if k != prev] or here
            who = int(rng.choice(choices))
        if pool:
            clip = pool.next(who)
            u = bank.clip(clip)
            text, clip_path = clip.text, str(clip.path)
        else:
            k = int(rng.integers(config.sentences[0], config.sentences[1] + 1))
            text = " ".join(lines[(line + j) % len(lines)] for j in range(k))
            line += k
            u = bank.espeak(text, talkers[who].voice or voices[who])
            clip_path = None
        if utterances and rng.random() < config.overlap:
            back = float(rng.uniform(*config.overlap_s))
            start = max(prev_start + 0.5, prev_end - back)
        elif utterances:
            start = prev_end + float(rng.uniform(*config.pause_s))
        else:
            start = config.lead_s
        if utterances and start + u.duration > config.duration_s:
            break
        start = round(start, 4)
        utterances.append(UtteranceModel(speaker=talkers[who].id, start=start, text=text, clip=clip_path))
        prev_start, prev_end, prev = start, max(prev_end, start + u.duration), who
        if prev_end > config.duration_s:
            break
    duration = round(max(config.duration_s, prev_end + 0.5), 3)
    mics = [tuple(float(v) for v in p) for p in geometry.positions]
    return Scenario(
        name=config.name, seed=seed, rate=config.rate, duration_s=duration,
        room=RoomModel(size=size, rt60=rt60),
        array=ArrayModel(geometry=config.array if config.array in PRESETS else geometry.name, mics=mics, centre=tuple(round(float(v), 4) for v in centre)),  # type: ignore[arg-type]
        noise=NoiseModel(snr_db=None if snr is None else round(snr, 2), kind=config.noise),
        talkers=talkers, utterances=utterances, render=config.render,
        generator={**config.model_dump(mode="json", exclude={"render"}), "seed": seed},
    )
