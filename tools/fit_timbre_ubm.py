#!/usr/bin/env python3
"""Recipe: fit the timbre background model (``nodes/speaker/timbre_ubm.npz``) on generated speech.

The same rooms, places and training voices as tools/fit_voice_compensation.py (``room_beams``:
espeak-ng voices the simulated meetings never use, two sentences at eight places in each room,
through the superdirective beam steered at the place). Every frame within
``timbre.FLOOR_DB`` of its utterance's loudest gives mel cepstra and deltas
(``timbre.cepstra``, from the encoder's own mel spectrogram); each room's mean is taken out (the
embedding node takes out the mean of everything heard so far, every talker together, which a
room's mean over all its voices stands for); then a diagonal GMM is fitted by EM.

Every room is seeded by its number, and EM starts from a seeded draw: the same command writes the
same model. About 10 s a room on one core, then a minute of EM.

Run:  python tools/fit_timbre_ubm.py [--rooms 24] [--components 32] [--jobs 2] [--out FILE]
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nodes.speaker.timbre import BUNDLED, FLOOR_DB, cepstra, fit_ubm, loud_frames  # noqa: E402
from tools.fit_voice_compensation import VOICES, room_beams  # noqa: E402


def room_frames(room: int) -> np.ndarray:
    """Mean-normalised cepstra of every loud frame of one room, all voices and places together."""
    from nodes.speaker.encoder import mel_spectrogram

    got = []
    for _, _, y in room_beams(room):
        mel = mel_spectrogram(y.astype(np.float32))
        got.append(cepstra(mel)[loud_frames(mel, FLOOR_DB)])
    x = np.concatenate(got)
    return (x - x.mean(axis=0)).astype(np.float32)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rooms", type=int, default=24, help="simulated rooms (default 24)")
    ap.add_argument("--components", type=int, default=32, help="Gaussians in the model (default 32)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--out", type=Path, default=BUNDLED, help=f"where to write the model (default {BUNDLED})")
    args = ap.parse_args()
    if args.rooms < 1 or args.jobs < 1 or args.components < 2:
        ap.error("--rooms and --jobs must be at least 1, --components at least 2")
    t = time.perf_counter()
    frames = []
    with ProcessPoolExecutor(args.jobs) as pool:
        for room, x in enumerate(pool.map(room_frames, range(args.rooms))):
            frames.append(x)
            print(f"room {room + 1}/{args.rooms}: {len(x)} frames ({time.perf_counter() - t:.0f} s)", flush=True)
    x = np.concatenate(frames)
    ubm = fit_ubm(x, args.components)
    ubm.save(args.out, voices=list(VOICES), rooms=args.rooms, frames=len(x), components=args.components,
             front="superdirective beam steered at the talker, circular7; c1-c19 and deltas, room mean removed")
    print(f"wrote {args.out}: {args.components} components from {len(x)} frames of {len(VOICES)} voices in {args.rooms} rooms "
          f"({time.perf_counter() - t:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
