"""Which clusters the last refinement pass folded into their closest, and whether each fold was right.

After stopping, Kalman-AHC joins a settled cluster with under ``ahc_min_speaker_s`` (5 s) of
speech to its closest ("small"), one under ``ahc_piece_max_s`` within ``ahc_piece_margin`` of
merging ("piece"), and, with the number of people known, the one with least speech ("cap").
Most such clusters are pieces of a talker (an overlapped turn, a turn's edge); a participant
who says one short sentence in the whole meeting is folded too, into someone else. This lists
every fold of each meeting's last pass (the final labels) beside the reference:

* ``right``: the folded cluster's stretches are mostly the talker the cluster it joined is
  mostly (a piece went home);
* ``participant``: they are mostly a talker with less than ``ahc_min_speaker_s`` of speech in
  the whole reference, who is then labelled as someone else (the fold's cost);
* ``wrong``: a piece of a talker who has more speech went to another talker (a small error
  either way: kept apart, it would have been a spurious speaker);
* ``profile``: it joined a remembered voice (nothing in the horizon to compare with), and
  ``no speech``: it covers no reference speech at all.

Per fold: its kind, speech, affinity and the four parts of it (voice, location, pitch, timbre),
the share of its speech heard in one place (direction spread at most ``ahc_split_std_deg``),
and from the reference the share its talker spoke alone. A rule that keeps participants apart
must tell the ``participant`` lines from the ``right`` ones with what the pass can see (all but
the last column); ``tools/diarization_notes.md`` (thirty-seventh session) has what was tried.

It reads the bench's cached meetings and front end (``--work`` as given to the bench, which
must have run those meetings first) and runs only the diariser, a few seconds a meeting::

    python tools/small_folds.py --work /tmp/meetflow_bench_dz --first 1 --meetings 36
    python tools/small_folds.py --work /tmp/meetflow_bench_dz --first 1 --meetings 36 --kind small --verdict participant
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench_diarization as bench
import cached_meetings as cached

from nodes.speaker.kalman_ahc import Fold, KalmanAhc

Ref = cached.Ref


def majority(ref: Ref, spans: list[tuple[float, float]]) -> tuple[str | None, float]:
    """The reference talker who speaks most over ``spans``, and the share of the spans' time they cover."""
    acc: dict[str, float] = {}
    for a, b in spans:
        for x, y, spk in ref:
            if min(b, y) > max(a, x):
                acc[spk] = acc.get(spk, 0.0) + min(b, y) - max(a, x)
    total = sum(b - a for a, b in spans)
    if not acc or total <= 0:
        return None, 0.0
    spk = max(acc, key=lambda k: acc[k])  # the first of equals, in reference order
    return spk, acc[spk] / total


def alone_share(ref: Ref, spk: str, spans: list[tuple[float, float]]) -> float:
    """Share of ``spans`` during which no reference talker but ``spk`` speaks (the bench's share per span, time-weighted)."""
    total = sum(b - a for a, b in spans)
    return sum(bench._alone_share(ref, spk, a, b) * (b - a) for a, b in spans) / total if total > 0 else 0.0


def verdict(ref: Ref, fold: Fold, min_speaker_s: float) -> tuple[str, str | None, str | None]:
    """("right" / "participant" / "wrong" / "profile" / "no speech", the folded cluster's talker, the joined cluster's talker)."""
    mine, _ = majority(ref, fold.spans)
    if mine is None:
        return "no speech", None, None  # a label on what nobody said: wherever it goes it is a false alarm
    if not fold.into:
        return "profile", mine, None  # joined a remembered voice: nothing in the horizon to compare with
    theirs, _ = majority(ref, fold.into)
    if mine == theirs:
        return "right", mine, theirs
    spoken = sum(y - x for x, y, s in ref if s == mine)
    return ("participant" if spoken < min_speaker_s else "wrong"), mine, theirs


def describe(name: str, ref: Ref, fold: Fold, min_speaker_s: float) -> str:
    what, mine, theirs = verdict(ref, fold, min_speaker_s)
    voice, place, pitch, timbre = fold.parts
    start = min((a for a, _ in fold.spans), default=float("nan"))
    alone = alone_share(ref, mine, fold.spans) if mine else 0.0
    return (f"{name:8} {fold.kind:5} {what:11} {start:7.1f} s {fold.speech:5.2f} s {mine} -> {theirs}  affinity {fold.affinity:+.3f} "
            f"(voice {voice:+.2f} place {place:+.2f} pitch {pitch:+.2f} timbre {timbre:+.2f})  heard in one place "
            f"{fold.sharp:.0%}  [reference: spoken alone {alone:.0%}]")


def last_pass_folds(front: dict[str, Any], params: dict[str, Any]) -> list[Fold]:
    """Run the diariser over a cached front end; the folds of its last refinement pass (the one the final labels come from)."""
    seen: list[list[Fold]] = []
    cluster = KalmanAhc.cluster

    def spy(self: KalmanAhc, *args: Any, **kwargs: Any) -> list[int]:
        out = cluster(self, *args, **kwargs)
        seen.append(list(self.folds))
        return out

    KalmanAhc.cluster = spy  # type: ignore[method-assign]
    try:
        bench.emissions(front, **params)
    finally:
        KalmanAhc.cluster = cluster  # type: ignore[method-assign]
    return seen[-1] if seen else []


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cached.add_arguments(ap)
    ap.add_argument("--kind", choices=["small", "piece", "cap"], help="list only folds of this kind")
    ap.add_argument("--verdict", choices=["right", "participant", "wrong", "profile", "no speech"], help="list only folds with this verdict")
    args = ap.parse_args()
    from nodes.speaker.diarizer_params import DiarizerParams

    _, params = cached.mode_params(ap, args)
    min_speaker_s = float(params.get("ahc_min_speaker_s", DiarizerParams.model_fields["ahc_min_speaker_s"].default))
    counts: Counter[tuple[str, str]] = Counter()
    try:
        for meeting in cached.cached_meetings(ap, args, "small_folds"):
            for fold in last_pass_folds(meeting.front, meeting.params):
                what = verdict(meeting.ref, fold, min_speaker_s)[0]
                counts[fold.kind, what] += 1
                if (args.kind in (None, fold.kind)) and (args.verdict in (None, what)):
                    print(describe(meeting.folder.name, meeting.ref, fold, min_speaker_s), flush=True)
    except cached.MissingCache as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"\n{args.mode}: folds in the last pass of {args.meetings} meetings, by kind and verdict:")
    for kind in ("small", "piece", "cap"):
        row = {w: counts[kind, w] for w in ("right", "participant", "wrong", "profile", "no speech")}
        if any(row.values()):
            print(f"  {kind:5} " + ", ".join(f"{w} {n}" for w, n in row.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
