"""``meetflow eval doa``: talker tracks (and raw directions) against ground-truth azimuths."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ...errors import ExitCode, InputError, OutputError, UsageError
from ._options import degrees, seconds

ORDER = 10

#: Image formats matplotlib writes (by the --plot file's ending).
PLOT_FORMATS = (".png", ".svg", ".pdf", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".eps", ".ps")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doa", help="direction of arrival and talker tracking", description=(
        "Score talker tracks against ground-truth azimuths: median and mean azimuth error per talker, the share of each talker's "
        "active time a track covered, and track breaks (a talker's track id changing), each with the silence before it."))
    p.add_argument("--truth", required=True, metavar="FILE", help="truth_azimuth.jsonl (meetflow simulate): {t, speaker, azimuth_deg}")
    p.add_argument("--tracks", required=True, metavar="FILE", help="tracks.jsonl (array.tracks_writer): {t, track_id, azimuth_deg}")
    p.add_argument("--doa", metavar="FILE", help="doa.jsonl (array.doa_writer): also score the raw directions, for comparison")
    p.add_argument("--plot", metavar="PNG", help="draw azimuth over time, truth against tracks, into this image")
    p.add_argument("--json", metavar="FILE", help="also write the scores as JSON")
    p.add_argument("--array", metavar="ARRAY", help="the array the tracks came from (preset or geometry file; default: the one in the "
                   "scenario): a linear array measures the cone angle to its axis, folded into a half plane, and is scored that way")
    p.add_argument("--scenario", metavar="FILE", help="scenario.json of the simulated meeting (default: the one beside --truth, if any): "
                   "its array, and the talkers' heights for a linear array's cone angles")
    p.add_argument("--gate", type=degrees, default=30.0, metavar="DEG", help="a track further than this from a talker does not cover them (default 30)")
    p.add_argument("--tolerance", type=seconds, default=0.2, metavar="S", help="match truth and track times up to this far apart (default 0.2)")
    p.set_defaults(func=run)


def _scenario(args: argparse.Namespace):  # noqa: ANN202 - nodes.sim.scenario.Scenario or None
    """The simulated meeting's scenario: --scenario, else scenario.json beside the truth (quietly none when absent)."""
    path = Path(args.scenario) if args.scenario else Path(args.truth).parent / "scenario.json"
    if not path.exists():
        if args.scenario:
            raise InputError(f"{path}: no such file")
        return None
    from pydantic import ValidationError

    from nodes.sim.scenario import Scenario

    try:
        return Scenario.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValidationError) as exc:
        if args.scenario:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"{path}: not a scenario.json ({first})") from None
        return None  # a foreign file that happens to be called scenario.json: score azimuths as they are


def _geometry(args: argparse.Namespace, scenario):  # noqa: ANN001, ANN202
    from nodes.array.geometry import GeometryError, from_mics, resolve_geometry

    if args.array:
        try:
            return resolve_geometry(args.array)
        except GeometryError as exc:
            raise InputError(f"--array: {exc}") from None
    if scenario is not None:
        try:
            return from_mics(scenario.array.mics, scenario.array.geometry, source="scenario")
        except GeometryError:
            return None
    return None


def run(args: argparse.Namespace) -> int:
    from nodes.array.evaluate import (DOA_KEYS, TRACK_KEYS, TRUTH_KEYS, EvalInputError, as_measured, fold_estimates, format_table, plot,
                                      read_jsonl, score)

    if args.plot and Path(args.plot).suffix.lower() not in PLOT_FORMATS:
        raise UsageError(f"--plot {args.plot}: name an image file ({', '.join(PLOT_FORMATS)})")
    try:
        truth = read_jsonl(args.truth, TRUTH_KEYS)
        tracks = read_jsonl(args.tracks, TRACK_KEYS)
        doa = read_jsonl(args.doa, DOA_KEYS) if args.doa else None
    except EvalInputError as exc:
        raise InputError(str(exc)) from None
    if not truth:
        raise InputError(f"{args.truth}: no truth lines (is it a truth_azimuth.jsonl?)")
    scenario = _scenario(args)
    measured = as_measured(truth, _geometry(args, scenario), scenario)
    truth = measured.truth
    tracks = fold_estimates(tracks, measured.axis_deg)
    doa = fold_estimates(doa, measured.axis_deg) if doa is not None else None
    result = score(truth, tracks, doa, tolerance_s=args.tolerance, gate_deg=args.gate)
    result.settings["truth_as"] = measured.how
    try:  # files first: a closed stdout (`| head`) must not cost the user the plot
        if args.plot:
            plot(truth, tracks, args.plot, doa, title=f"{Path(args.tracks).parent.name or 'tracks'} vs {Path(args.truth).name}")
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(result.to_json(), indent=1) + "\n", encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write: {exc.strerror or exc} ({exc.filename})") from None
    print(format_table(result))
    if measured.note:
        print(f"note: {measured.note}")
    if not tracks:
        print(f"note: {args.tracks} holds no tracks (mono input, or nobody was heard)")
    if args.plot:
        print(f"plot: {args.plot}")
    return ExitCode.OK
