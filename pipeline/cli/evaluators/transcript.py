"""``meetflow eval transcript``: a speaker-attributed transcript against a reference, cpWER and tcpWER with MeetEval."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ...errors import ExitCode, InputError, OutputError
from ._listing import some
from ._options import seconds

ORDER = 30


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("transcript", help="speaker-attributed word error rates (cpWER, tcpWER)", description=(
        "Score a speaker-attributed transcript against a reference with MeetEval: cpWER (concatenated minimum-permutation WER: "
        "words must go to the right speaker) and tcpWER (the same with time constraints: words must also fall near their "
        "reference times, within the collar). Both files are SegLST JSON (transcript.seglst.json from meetflow run, "
        "reference.seglst.json from meetflow simulate). Segments that carry word times (word_times: [[word, start, end], ...], "
        "as both of those do) are scored word by word at those times; others get MeetEval's estimate of word times from the "
        "segment's bounds and the words' lengths."))
    p.add_argument("--ref", required=True, metavar="SEGLST", help="reference SegLST JSON")
    p.add_argument("--hyp", required=True, metavar="SEGLST", help="hypothesis SegLST JSON")
    p.add_argument("--collar", type=seconds, default=5.0, metavar="S", help="tcpWER time collar (default 5 s, as in NOTSOFAR/CHiME)")
    p.add_argument("--no-normalize", action="store_true", help="score words as written (default: lower case, no punctuation)")
    p.add_argument("--segment-times", action="store_true", help="ignore word_times: let MeetEval estimate word times inside "
                   "each segment (how tcpWER scores files without word times)")
    p.add_argument("--json", metavar="FILE", help="also write the scores as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nodes.speaker.evaluate import EvalInputError, read_seglst, transcript_wer
    from nodes.transcript.wordlevel import WordTimesError, split_into_words

    timing: dict[str, dict[str, int]] = {}  # per side: segments scored at their word times, without any, mismatched
    files: dict[str, list[dict]] = {}
    for side, path in (("ref", args.ref), ("hyp", args.hyp)):
        try:
            files[side] = read_seglst(path)
            if not args.segment_times:  # one segment per timed word: MeetEval then scores at the real word times
                files[side], timing[side] = split_into_words(files[side], as_written=args.no_normalize)
        except EvalInputError as exc:
            raise InputError(str(exc)) from None
        except WordTimesError as exc:
            raise InputError(f"{path}: {exc}") from None
    ref, hyp = files["ref"], files["hyp"]
    if not ref:
        raise InputError(f"{args.ref}: no segments")
    result = transcript_wer(ref, hyp, collar=args.collar, normalize=not args.no_normalize)
    result["word_times"] = timing or None
    if args.json:
        try:
            Path(args.json).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"cannot write {args.json}: {exc.strerror or exc}") from None
    for name in ("cpwer", "tcpwer"):
        r = result[name]
        extra = f", collar {args.collar} s, {_timing_words(timing)}" if name == "tcpwer" else ""
        print(f"{name:<7} {r['error_rate']:6.1%}  ({r['errors']} errors / {r['length']} reference words{extra})")
    if not hyp:
        print(f"note: {args.hyp} holds no segments: every reference word counts as deleted")
    elif missing := result["sessions_without_hypothesis"]:
        print(f"note: {args.hyp} has no segments for session(s) {some(missing)}: their words count as deleted")
    if extra := result["sessions_not_in_reference"]:
        print(f"note: {args.hyp} holds session(s) the reference lacks, not scored: {some(extra)}")
    for side, path in (("ref", args.ref), ("hyp", args.hyp)):
        if n := timing.get(side, {}).get("mismatched"):
            print(f"note: {path}: the word_times of {n} segment(s) do not spell their words; their word times are estimated")
    return ExitCode.OK


def _timing_words(timing: dict[str, dict[str, int]]) -> str:
    """How word times were found, for the tcpWER line: 'word times: real' / 'estimated' / per side."""
    def kind(side: str) -> str:
        c = timing.get(side)
        if not c or not c["timed"]:
            return "estimated"
        return "real" if not (c["untimed"] or c["mismatched"]) else "partly real"

    r, h = kind("ref"), kind("hyp")
    return f"word times {r}" if r == h else f"word times: reference {r}, hypothesis {h}"
