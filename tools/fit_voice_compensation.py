#!/usr/bin/env python3
"""Recipe: fit the diariser's voice compensation (WCCN of GE2E embeddings) on generated speech.

1. For each of ``--rooms`` simulated rooms (pyroomacoustics, 5-8 x 4-6.5 m, RT60 0.3-0.6 s,
   diffuse noise at 15-20 dB SNR), put a circular7 array near the middle and eight places
   0.8-3 m from it.
2. Each training voice (espeak-ng voices the simulated meetings never use: ``VOICES``) speaks
   two sentences at every place; the seven channels go through the superdirective beam
   steered at the place, as the speaker branch of graphs/meeting.json hears a talker.
3. Embed windows of 0.75, 1.25 and 1.5 s every 0.5 s with the GE2E encoder: the lengths the
   embedding node gives (a segment's first two windows, then the sliding one). Fitted on 1.5 s
   windows alone, the map made the first second of a returning talker's label worse (a 0.75 s
   window varies in ways a 1.5 s one does not); tools/diarization_notes.md, "Voice compensation".
4. Fit the map on every window, grouped by voice: how one voice varies across rooms,
   places and words (``compensation.fit_wccn``, shrinkage 1.0), and write it beside the
   diariser (``nodes/speaker/voice_compensation.npz``), which loads it by default for arrays.
5. Also measure the pitch of every 1.5 s window (``nodes/speaker/pitch.py``) and print the
   spread refinement's pitch score assumes (``PitchModel.sd_per_s``: how far one voiced
   second's median pitch strays from its utterance's level; printed 0.0546 octave) and the
   drift of a voice's level between utterances (printed 0: a synthetic voice holds it).

Every room is seeded by its number, so the same command writes the same map. About 15 s a
room on one core (24 rooms: 3 to 6 min with --jobs 2).

Run:  python tools/fit_voice_compensation.py [--rooms 24] [--jobs 2] [--out FILE]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nodes.speaker.compensation import BUNDLED, VoiceCompensation, fit_wccn  # noqa: E402

#: Training voices: none of them is one of nodes.sim.speech.MEETING_VOICES, so the benchmark's meetings test the map on
#: voices it never heard.
VOICES = ("en-029+m2", "en-gb-x-gbclan+m4", "en-gb-x-gbcwmd+m6", "en-us-nyc+m5", "en-gb+m8",
          "en-us+f2", "en-gb+f4", "en-029+klatt3", "en-us-nyc+f1", "en-gb-x-gbclan+klatt2")
PLACES = 8
WINDOW_FRAMES = (75, 125, 150)  # 0.75, 1.25 and 1.5 s of 10 ms mel frames: every length the embedding node gives
HOP_FRAMES = 50


def room_beams(room: int) -> Iterator[tuple[str, int, np.ndarray]]:
    """(voice, place, beam output) for every training voice at every place of one simulated room: two sentences
    through the room, diffuse noise, and the superdirective beam steered at the place (as the speaker branch hears)."""
    from scipy.signal import fftconvolve

    from nodes.array.beam import SteeredBeam
    from nodes.array.geometry import PRESETS, azimuth_of
    from nodes.sim.noise import diffuse_noise
    from nodes.sim.room import RoomSpec, impulse_responses
    from nodes.sim.sentences import SENTENCES
    from nodes.sim.tts import synthesize

    mics = np.asarray(PRESETS["circular7"].xyz, dtype=float)
    rng = np.random.default_rng(1000 + room)
    size = (rng.uniform(5, 8), rng.uniform(4, 6.5), rng.uniform(2.7, 3.2))
    spec = RoomSpec(size, float(rng.uniform(0.3, 0.6)))
    centre = np.array([size[0] / 2 + rng.uniform(-0.5, 0.5), size[1] / 2 + rng.uniform(-0.5, 0.5), 0.75])
    places: list[np.ndarray] = []
    while len(places) < PLACES:
        d, a = rng.uniform(0.8, 3.0), rng.uniform(0, 2 * np.pi)
        p = centre + [d * np.cos(a), d * np.sin(a), 0.0]
        p[2] = rng.uniform(1.15, 1.6)
        if spec.inside(p, 0.4):
            places.append(p)
    responses = impulse_responses(spec, mics + centre, places)
    snr_db = rng.uniform(15, 20)
    for vi, voice in enumerate(VOICES):
        text = " ".join(SENTENCES[(room * 3 + vi * 2 + k) % len(SENTENCES)] for k in range(2))
        dry = synthesize(text, voice)
        for pi, (p, h) in enumerate(zip(places, responses)):
            wet = np.stack([fftconvolve(dry, h[m])[: len(dry) + 4000] for m in range(len(mics))], axis=1)
            noise = diffuse_noise(mics, len(wet), 16000, rng)
            noise *= np.sqrt(np.mean(wet[:, 0] ** 2) / (np.mean(noise[:, 0] ** 2) * 10 ** (snr_db / 10)))
            x = (wet + noise).astype(np.float32)
            az = float(azimuth_of(p, centre))
            beam = SteeredBeam(mics, 16000, "superdirective")
            y = np.concatenate([beam.process(x[s : s + 320], az) for s in range(0, len(x), 320)] + [beam.flush(az)])
            yield voice, pi, y


def room_windows(room: int) -> tuple[list[tuple[str, int, int, np.ndarray]], list[tuple[str, int, int, float, float]]]:
    """(voice, room, place, embedding) of every speech window of one simulated room, and (voice, room, place,
    log2 pitch, voiced seconds) of every 1.5 s window with a pitch."""
    from nodes.speaker.encoder import PARTIAL_FRAMES, SpeakerEncoder, mel_spectrogram
    from nodes.speaker.pitch import window_pitch

    enc = SpeakerEncoder()
    out: list[tuple[str, int, int, np.ndarray]] = []
    pitches: list[tuple[str, int, int, float, float]] = []
    for voice, pi, y in room_beams(room):
        mel = mel_spectrogram(enc.normalize_volume(y.astype(np.float32)))
        energy = mel.sum(axis=1)
        loud = energy > np.percentile(energy, 40)
        for frames in WINDOW_FRAMES:
            starts = [f for f in range(0, len(mel) - frames, HOP_FRAMES) if loud[f : f + frames].mean() > 0.6]
            if not starts:
                continue
            batch = np.stack([np.pad(mel[f : f + frames], ((0, PARTIAL_FRAMES - frames), (0, 0))) for f in starts])
            out += [(voice, room, pi, e) for e in enc._forward(batch.astype(np.float32))]
            if frames == WINDOW_FRAMES[-1]:
                for f in starts:
                    pitch, voiced = window_pitch(y[f * 160 : (f + frames) * 160].astype(np.float32), 16000)
                    if pitch is not None:
                        pitches.append((voice, room, pi, pitch, voiced))
    return out, pitches


def pitch_spread(rows: list[tuple[str, int, int, float, float]]) -> tuple[float, float]:
    """(sd per voiced second, floor) of ``PitchModel`` from windows' pitches, grouped by utterance (voice, room, place).

    Within an utterance a window's pitch varies about the utterance's level as intonation does,
    with variance ``sd**2 / voiced seconds``; between utterances of one voice the level itself
    moves by ``floor`` (what remains of their means' spread after the windows' own noise).
    """
    groups: dict[tuple[str, int, int], list[tuple[float, float]]] = {}
    for voice, room, place, pitch, voiced in rows:
        groups.setdefault((voice, room, place), []).append((pitch, voiced))
    scaled, levels = [], {}
    for key, got in groups.items():
        p, v = np.array(got).T
        if len(p) < 2:
            continue
        level = float(np.average(p, weights=v))
        scaled += list(np.square(p - level) * v * len(p) / (len(p) - 1))
        levels.setdefault(key[0], []).append((level, float(np.sum(v))))
    sd = float(np.sqrt(np.mean(scaled)))
    excess = []
    for got in levels.values():
        lv, vs = np.array(got).T
        excess.append(np.var(lv, ddof=1) - np.mean(sd**2 / (vs / 3.0)))  # 1.5 s windows every 0.5 s: each second heard thrice
    return sd, float(np.sqrt(max(float(np.mean(excess)), 0.0)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rooms", type=int, default=24, help="simulated rooms (default 24)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--shrink", type=float, default=1.0, help="shrinkage toward the identity (default 1.0)")
    ap.add_argument("--out", type=Path, default=BUNDLED, help=f"where to write the map (default {BUNDLED})")
    args = ap.parse_args()
    if args.rooms < 1 or args.jobs < 1 or args.shrink < 0:
        ap.error("--rooms and --jobs must be at least 1, --shrink not below 0")
    t = time.perf_counter()
    rows: list[tuple[str, int, int, np.ndarray]] = []
    pitches: list[tuple[str, int, int, float, float]] = []
    with ProcessPoolExecutor(args.jobs) as pool:
        for room, (got, pitched) in enumerate(pool.map(room_windows, range(args.rooms))):
            rows += got
            pitches += pitched
            print(f"room {room + 1}/{args.rooms}: {len(got)} windows ({time.perf_counter() - t:.0f} s)", flush=True)
    sd, floor = pitch_spread(pitches)
    print(f"pitch (speaker.diarizer's PitchModel): {len(pitches)} windows; sd per voiced second {sd:.4f} octaves, floor {floor:.4f} octaves")
    mu, a = fit_wccn(np.array([r[3] for r in rows]), [r[0] for r in rows], args.shrink)
    info = {"voices": list(VOICES), "rooms": args.rooms, "places": PLACES, "windows": len(rows), "shrink": args.shrink,
            "grouped_by": "voice", "window_s": [f / 100 for f in WINDOW_FRAMES],
            "front": "superdirective beam steered at the talker, circular7"}
    VoiceCompensation(mu, a, info).save(args.out)
    print(f"wrote {args.out}: {len(rows)} windows of {len(VOICES)} voices in {args.rooms} rooms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
