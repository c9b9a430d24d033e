"""``meetflow eval transcript``: a speaker-attributed transcript against a reference, cpWER and tcpWER with MeetEval."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ...errors import ExitCode, InputError, OutputError
from ._listing import some

ORDER = 30


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("transcript", help="speaker-attributed word error rates (cpWER, tcpWER)", description=(
        "Score a speaker-attributed transcript against a reference with MeetEval: cpWER (concatenated minimum-permutation WER: "
        "words must go to the right speaker) and tcpWER (the same with time constraints: words must also fall near their "
        "reference times, within the collar). Both files are SegLST JSON (transcript.seglst.json from meetflow run, "
        "reference.seglst.json from meetflow simulate)."))
    p.add_argument("--ref", required=True, metavar="SEGLST", help="reference SegLST JSON")
    p.add_argument("--hyp", required=True, metavar="SEGLST", help="hypothesis SegLST JSON")
    p.add_argument("--collar", type=float, default=5.0, metavar="S", help="tcpWER time collar (default 5 s, as in NOTSOFAR/CHiME)")
    p.add_argument("--no-normalize", action="store_true", help="score words as written (default: lower case, no punctuation)")
    p.add_argument("--json", metavar="FILE", help="also write the scores as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nodes.speaker.evaluate import EvalInputError, read_seglst, transcript_wer

    try:
        ref = read_seglst(args.ref)
        hyp = read_seglst(args.hyp)
    except EvalInputError as exc:
        raise InputError(str(exc)) from None
    if not ref:
        raise InputError(f"{args.ref}: no segments")
    if args.collar < 0:
        raise InputError("--collar must not be negative")
    result = transcript_wer(ref, hyp, collar=args.collar, normalize=not args.no_normalize)
    if args.json:
        try:
            Path(args.json).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"cannot write {args.json}: {exc.strerror or exc}") from None
    for name in ("cpwer", "tcpwer"):
        r = result[name]
        extra = f", collar {args.collar} s" if name == "tcpwer" else ""
        print(f"{name:<7} {r['error_rate']:6.1%}  ({r['errors']} errors / {r['length']} reference words{extra})")
    if not hyp:
        print(f"note: {args.hyp} holds no segments: every reference word counts as deleted")
    elif missing := result["sessions_without_hypothesis"]:
        print(f"note: {args.hyp} has no segments for session(s) {some(missing)}: their words count as deleted")
    if extra := result["sessions_not_in_reference"]:
        print(f"note: {args.hyp} holds session(s) the reference lacks, not scored: {some(extra)}")
    return ExitCode.OK
