"""``meetflow eval diarization``: speaker turns (RTTM) against a reference, DER with pyannote.metrics."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ...errors import ExitCode, InputError, OutputError
from ._listing import some

ORDER = 20


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diarization", help="who spoke when: diarisation error rate", description=(
        "Score speaker turns against a reference with pyannote.metrics: diarisation error rate (DER) and its parts (missed speech, "
        "false alarm, speaker confusion), per file and overall. Speaker labels need not match: the best one-to-one mapping is used."))
    p.add_argument("--ref", required=True, metavar="RTTM", help="reference turns (e.g. reference.rttm from meetflow simulate)")
    p.add_argument("--hyp", required=True, metavar="RTTM", help="hypothesis turns (diarization.rttm or transcript.rttm from meetflow run)")
    p.add_argument("--collar", type=float, default=0.5, metavar="S",
                   help="total width not scored around each reference boundary, pyannote's convention (default 0.5 = +-0.25 s)")
    p.add_argument("--skip-overlap", action="store_true", help="do not score overlapped speech")
    p.add_argument("--uem", metavar="UEM", help="score only inside these regions (NIST UEM)")
    p.add_argument("--json", metavar="FILE", help="also write the scores as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nodes.speaker.evaluate import EvalInputError, der, read_rttm, read_uem

    try:
        ref = read_rttm(args.ref)
        hyp = read_rttm(args.hyp)
        uem = read_uem(args.uem) if args.uem else None
    except EvalInputError as exc:
        raise InputError(str(exc)) from None
    if not ref:
        raise InputError(f"{args.ref}: no SPEAKER lines (is it an RTTM file?)")
    if args.collar < 0:
        raise InputError("--collar must not be negative")
    result = der(ref, hyp, collar=args.collar, skip_overlap=args.skip_overlap, uem=uem)
    if args.json:
        try:
            Path(args.json).write_text(json.dumps(result.to_json(), indent=1) + "\n", encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"cannot write {args.json}: {exc.strerror or exc}") from None
    for fid, v in result.per_file.items():
        print(f"{fid:<24} DER {v:6.1%}")
    print(f"{'all':<24} DER {result.der:6.1%}  (missed {result.missed:.1%}, false alarm {result.false_alarm:.1%}, "
          f"confusion {result.confusion:.1%}; {result.total:.1f} s of reference speech, collar {args.collar} s)")
    for line in _id_notes(args, ref, hyp, uem):
        print(f"note: {line}")
    return ExitCode.OK


def _id_notes(args: argparse.Namespace, ref: dict, hyp: dict, uem: dict | None) -> list[str]:
    """What the scores above silently assumed about file ids (RTTM's second field).

    A hypothesis written for another recording, or whose file ids were renamed, scores 100%
    missed speech with no error: say which files went unmatched, so a user does not read a
    mix-up as a broken diariser. (One file on each side is paired whatever the names.)
    """
    out = []
    if not hyp:
        out.append(f"{args.hyp} holds no turns")
    elif len(ref) > 1 or len(hyp) > 1:
        if missing := set(ref) - set(hyp):
            out.append(f"{args.hyp} has no turns for {len(missing)} of the reference's {len(ref)} files ({some(missing)}): "
                       "they count as missed speech")
        if extra := set(hyp) - set(ref):
            out.append(f"{args.hyp} holds files the reference lacks, not scored: {some(extra)}")
    if uem is not None and (no_uem := set(ref) - set(uem)):
        out.append(f"{args.uem} has no regions for {some(no_uem)}: scored over their whole extent")
    return out
