#!/usr/bin/env python3
"""Probe: how well do the voice (GE2E), the timbre (``nodes/speaker/timbre.py``) and both name true turns?

On the bench's cached meetings, with segmentation and clustering perfect (the oracle behind
``bench_diarization.voice_names``): every reference turn is named by the true talker whose other
turns are closest to it, by

* ``voice``: the cosine of the sums of the turn's and the talker's GE2E windows (centred), as
  ``voice_names`` does;
* ``timbre``: the cosine of their timbre supervectors (the node's statistics of the channel
  mean's cepstra under the shipped background model, the running mean taken out as the node
  does, MAP shifts from the meeting's own adapted means);
* ``both``: the voice cosine plus ``--weight`` times the timbre cosine (refinement's sum).

Printed per weight: turns named right, and of them those spoken alone (90% or more). Measured
2026-12-06 on meetings 1-388 (6,042 turns with a window of their own): voice 6,002, timbre
5,966, both (weight 1) 6,031; spoken alone 5,071 / 5,055 / 5,093 of 5,094. About a minute a
hundred meetings. Usage::

    python tools/timbre_probe.py --work /tmp/meetflow_bench_dz5 --first 1 --meetings 388
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench_diarization as bench  # noqa: E402

from nodes.speaker.encoder import mel_spectrogram  # noqa: E402
from nodes.speaker.evaluate import read_rttm  # noqa: E402
from nodes.speaker.timbre import RunningCmn, TimbreUbm, cepstra, loud_frames  # noqa: E402
from nodes.speaker.units import unit_vector  # noqa: E402

BLOCK = 50  # frames a window's new stretch holds (0.5 s): the running mean moves in these steps, as in the node


def turn_stats(ubm: TimbreUbm, wav: Path, ref: list[tuple[float, float, str]]) -> list[np.ndarray]:
    """Timbre statistics of every reference turn, from the channel mean's loud speech frames."""
    import soundfile as sf

    x, _ = sf.read(wav, dtype="float32")
    mel = mel_spectrogram(x.mean(axis=1) if x.ndim > 1 else x)
    c = cepstra(mel)
    t = np.arange(len(c)) * 0.01
    speech = np.zeros(len(c), dtype=bool)
    for a, b, _ in ref:
        speech |= (t >= a) & (t < b)
    cmn, z, keep = RunningCmn(), np.zeros_like(c), np.zeros(len(c), dtype=bool)
    for s in range(0, len(c), BLOCK):
        blk = np.arange(s, min(s + BLOCK, len(c)))
        blk = blk[speech[blk]]
        if len(blk):
            blk = blk[loud_frames(mel[blk])]
            z[blk] = cmn(c[blk])
            keep[blk] = True
    return [ubm.stats(z[(t >= a) & (t < b) & keep]) for a, b, _ in ref]


def turn_voices(front: dict, ref: list[tuple[float, float, str]]) -> dict[int, np.ndarray]:
    """Each reference turn's summed centred GE2E windows (``voice_names``' choice of windows); turns without one left out."""
    wins = bench.front_windows(front)
    if not wins:
        return {}
    x = np.array([w[2] for w in wins], dtype=float)
    x -= x.mean(axis=0)
    out = {}
    for j, (a, b, _) in enumerate(ref):
        idx = [k for k, (s, e, _) in enumerate(wins) if s >= a - 0.3 and e <= b + 0.3] or \
              [k for k, (s, e, _) in enumerate(wins) if e > a and s < b]
        if idx:
            out[j] = x[idx].sum(axis=0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", required=True, help="the bench's --work folder (sim<seed>/ with meeting.wav and a cached front end)")
    ap.add_argument("--first", type=int, default=1)
    ap.add_argument("--meetings", type=int, default=8)
    ap.add_argument("--weights", default="0.5,1,2", help="weights of the timbre cosine in 'both' (comma-separated)")
    args = ap.parse_args()
    weights = [float(w) for w in args.weights.split(",")]
    ubm = TimbreUbm.load()
    rows: list[tuple[str, float, dict[str, float], dict[str, float]]] = []  # (talker, share alone, voice cosines, timbre cosines)
    for i in range(args.first, args.first + args.meetings):
        folder = Path(args.work) / f"sim{i}"
        caches = sorted(folder.glob("front_superdirective_v*.pkl"))
        if not (folder / "meeting.wav").exists() or not caches:
            print(f"timbre_probe: {folder} lacks meeting.wav or a cached front end: run tools/bench_diarization.py "
                  f"--first {i} --meetings 1 --work {args.work} first", file=sys.stderr)
            return 2
        ref = sorted(next(iter(read_rttm(folder / "reference.rttm").values())))
        stats = turn_stats(ubm, folder / "meeting.wav", ref)
        voices = turn_voices(pickle.loads(caches[-1].read_bytes()), ref)
        around = ubm.adapted_means(np.sum(stats, axis=0))
        talkers = sorted({s for *_, s in ref})
        for j, (a, b, spk) in enumerate(ref):
            if j not in voices:
                continue
            mine = unit_vector(ubm.supervector(stats[j], around))
            cos_v, cos_t = {}, {}
            for other in talkers:
                rest = [k for k, r in enumerate(ref) if r[2] == other and k != j]
                if not rest:
                    continue
                cos_v[other] = float(unit_vector(voices[j]) @ unit_vector(sum((voices[k] for k in rest if k in voices), np.zeros_like(voices[j]))))
                cos_t[other] = float(mine @ unit_vector(ubm.supervector(np.sum([stats[k] for k in rest], axis=0), around)))
            if spk in cos_v:
                rows.append((spk, bench._alone_share(ref, spk, a, b), cos_v, cos_t))
    alone = np.array([r[1] >= 0.9 for r in rows])

    def report(name: str, score) -> None:
        right = np.array([max(cv, key=lambda s: score(cv[s], ct[s])) == spk for spk, _, cv, ct in rows])
        print(f"{name:22s} {right.sum():6d} of {len(right)} right; spoken alone {right[alone].sum()} of {alone.sum()}")

    report("voice", lambda v, t: v)
    report("timbre", lambda v, t: t)
    for w in weights:
        report(f"both (weight {w:g})", lambda v, t, w=w: v + w * t)
    return 0


if __name__ == "__main__":
    sys.exit(main())
