"""The bench's cached meetings, one at a time, for the tools that run the diariser over them again.

``tools/bench_diarization.py`` simulates each meeting once and caches its front end (embeddings
and direction blocks) in ``--work``/sim<seed>/; a diagnostic tool then needs only the diariser,
a few seconds a meeting. This holds what such tools share: their command-line options (which
meetings, which bench mode, which beam) and the loop that loads each meeting with the mode's
parameters (a mode told the number of people gets each meeting's own number).
"""

from __future__ import annotations

import argparse
import pickle
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench_diarization as bench

Ref = list[tuple[float, float, str]]


class MissingCache(Exception):
    """A meeting asked for has no cached front end: the bench must simulate it first (the message says how)."""


@dataclass
class CachedMeeting:
    folder: Path
    ref: Ref  # the reference turns (start, end, talker)
    front: dict[str, Any]  # the cached front end, as bench.emissions takes it
    params: dict[str, Any]  # the diariser's parameters for the mode, for this meeting


def add_arguments(ap: argparse.ArgumentParser, meetings: int = 8) -> None:
    """The options every such tool takes: --work, --first, --meetings, --mode, --beam."""
    ap.add_argument("--work", required=True, help="the bench's --work folder, holding sim<seed>/ with its cached front end")
    ap.add_argument("--first", type=int, default=1, help="seed of the first meeting")
    ap.add_argument("--meetings", type=int, default=meetings)
    ap.add_argument("--mode", default="particle+kahc", help=f"the bench mode to run (one of {', '.join(bench.MODES)})")
    ap.add_argument("--beam", default="superdirective", choices=["superdirective", "delay_and_sum", "none"])


def mode_params(ap: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """(the beam whose front end to read, the diariser's parameters) of ``args.mode``; an unknown mode is a usage error."""
    if args.mode not in bench.MODES:
        ap.error(f"unknown mode {args.mode!r}; the modes are: {', '.join(bench.MODES)}")
    mode = bench.MODES[args.mode]
    return str(mode.get("front", args.beam)), {k: v for k, v in mode.items() if k != "front"}


def cached_meetings(ap: argparse.ArgumentParser, args: argparse.Namespace, tool: str) -> Iterator[CachedMeeting]:
    """Each meeting ``args`` names, loaded; raises ``MissingCache`` at the first one not cached yet."""
    from nodes.speaker.evaluate import read_rttm

    beam, params = mode_params(ap, args)
    for seed in range(args.first, args.first + args.meetings):
        folder = Path(args.work) / f"sim{seed}"
        cache = folder / f"front_{beam}_v3.pkl"
        if not cache.exists():
            raise MissingCache(f"{tool}: {cache} is missing: run tools/bench_diarization.py --first {seed} --meetings 1 "
                               f"--work {args.work} first (it simulates the meeting and caches its front end)")
        ref = next(iter(read_rttm(folder / "reference.rttm").values()))
        known = {"speakers": len({s for *_, s in ref})} if params.get("speakers") == bench.KNOWN else {}
        yield CachedMeeting(folder, ref, pickle.loads(cache.read_bytes()), {**params, **known})
