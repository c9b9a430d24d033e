#!/usr/bin/env python3
"""Probe: how well do short stretches tell the alike pair apart, by timbre against a talker model and by GE2E?

The returns lost between en-us+m3 and en-gb-x-rp+m1 were hand-overs inside one speech
segment that neither the place nor the voice cut. Before building resegmentation by timbre
(``nodes/speaker/timbre_reseg.py``) this asked whether the stretches' own timbre statistics
could place such a change: on the bench's cached meetings where both voices take part, every
run of 1, 2, 3 or 6 consecutive stretches (0.5 s each) spoken alone by one of them is named by
the linear-scoring log-likelihood ratio between the two talkers' models (the background GMM's
means MAP-adapted, from the meeting's adapted means, to the talker's other turns spoken alone:
``timbre_reseg.stretch_logliks``); and every 1.5 s GE2E window lying inside such a turn by the
closer of the two talkers' centred window sums (their other turns), as refinement would hear it.

Measured 2026-12-06 on meetings 1-60: 0.5 s 96.0% (4,238 of 4,413), 1 s 98.9%, 1.5 s 99.8%
(3,299 of 3,305), 3 s 100%; the GE2E window 97.2% (3,585 of 3,688). A few seconds a hundred
meetings. Usage::

    python tools/timbre_pair_probe.py --work /tmp/meetflow_bench_dz --first 1 --meetings 60
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nodes.speaker.evaluate import read_rttm
from nodes.speaker.timbre import TimbreUbm
from nodes.speaker.timbre_reseg import stretch_logliks

PAIR = ("en-us+m3", "en-gb-x-rp+m1")
SPANS = (1, 2, 3, 6)  # consecutive stretches scored together


def _alone_turn(ref: list[tuple[float, float, str]], voice: dict[str, str], t0: float, t1: float) -> tuple[float, float, str] | None:
    """The pair talker's reference turn holding [t0, t1] with nobody else speaking over it, if any."""
    for a, b, spk in ref:
        if a <= t0 and t1 <= b and voice[spk] in PAIR and not any(s != spk and y > t0 and x < t1 for x, y, s in ref):
            return a, b, spk
    return None


def probe_meeting(folder: Path, ubm: TimbreUbm, tally: Counter[str]) -> None:
    """Add one meeting's stretches and windows, named right or not, to ``tally`` (keys ``<name>`` and ``<name> right``)."""
    scenario = json.loads((folder / "scenario.json").read_text())
    voice = {t["id"]: t["voice"] for t in scenario["talkers"]}
    who = {v: k for k, v in voice.items()}
    if not all(p in who for p in PAIR):
        return
    ref = next(iter(read_rttm(folder / "reference.rttm").values()))
    front: dict[str, Any] = pickle.loads((folder / "front_superdirective_v3.pkl").read_bytes())
    wins = [p.payload for _, _, p in front["emb"] if p.payload.kind == "window" and p.payload.timbre is not None]
    stats = np.array([w.timbre for w in wins], dtype=np.float64)
    total = stats.sum(axis=0)
    around = ubm.adapted_means(total)
    vecs = np.array([w.vector for w in wins], dtype=np.float64)
    vecs -= vecs.mean(axis=0)
    stretch_turn = [_alone_turn(ref, voice, w.new_from, w.end) for w in wins]
    window_turn = [_alone_turn(ref, voice, w.start, w.end) for w in wins]
    a_id, b_id = who[PAIR[0]], who[PAIR[1]]
    for turn in sorted({t for t in stretch_turn if t}):
        models, sums = {}, {}
        for spk in (a_id, b_id):
            rows = [j for j, t in enumerate(stretch_turn) if t and t[2] == spk and t != turn]
            if not rows:
                break
            models[spk] = ubm.adapted_means(stats[rows].sum(axis=0), prior=around)
            sums[spk] = vecs[[j for j, t in enumerate(window_turn) if t and t[2] == spk and t != turn]].sum(axis=0)
        if len(models) < 2:
            continue
        truth_a = turn[2] == a_id
        members = [j for j, t in enumerate(stretch_turn) if t == turn]
        for span in SPANS:
            for first in range(len(members) - span + 1):
                rows = members[first : first + span]
                if rows[-1] - rows[0] != span - 1:
                    continue
                s = stats[rows].sum(axis=0)
                llr = float(stretch_logliks(ubm, s, models[a_id])[0] - stretch_logliks(ubm, s, models[b_id])[0])
                name = f"timbre, {0.5 * span:g} s"
                tally[name] += 1
                tally[name + " right"] += int((llr > 0) == truth_a)
        for j, t in enumerate(window_turn):
            if t == turn and np.any(sums[a_id]) and np.any(sums[b_id]):
                v = vecs[j] / np.linalg.norm(vecs[j])
                closer_a = v @ sums[a_id] / np.linalg.norm(sums[a_id]) > v @ sums[b_id] / np.linalg.norm(sums[b_id])
                tally["GE2E window, 1.5 s"] += 1
                tally["GE2E window, 1.5 s right"] += int(closer_a == truth_a)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", required=True, help="the bench's --work folder (sim<seed>/ with a cached v3 front end)")
    ap.add_argument("--first", type=int, default=1)
    ap.add_argument("--meetings", type=int, default=60)
    args = ap.parse_args()
    ubm = TimbreUbm.load()
    tally: Counter[str] = Counter()
    for seed in range(args.first, args.first + args.meetings):
        folder = Path(args.work) / f"sim{seed}"
        if (folder / "front_superdirective_v3.pkl").exists():
            probe_meeting(folder, ubm, tally)
    if not tally:
        print(f"no cached meeting in {args.work} has both {PAIR[0]} and {PAIR[1]} (run the bench there first)", file=sys.stderr)
        return 2
    for name in sorted(n for n in tally if not n.endswith(" right")):
        print(f"{name:22s} {tally[name + ' right']:6,} of {tally[name]:6,} named right ({tally[name + ' right'] / tally[name]:.1%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
