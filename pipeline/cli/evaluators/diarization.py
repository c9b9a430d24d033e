"""``meetflow eval diarization``: speaker turns (RTTM) against a reference, DER with pyannote.metrics."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ...errors import ExitCode, InputError, OutputError

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
    except (OSError, ValueError) as exc:
        raise InputError(f"{args.uem}: cannot read the UEM: {exc}") from None
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
    if not hyp:
        print(f"note: {args.hyp} holds no turns")
    return ExitCode.OK
