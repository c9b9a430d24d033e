"""``meetflow eval diarization``: speaker turns (RTTM) against a reference, DER with pyannote.metrics."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ...errors import ExitCode, InputError, OutputError
from ._listing import some
from ._options import seconds

ORDER = 20

#: Less reference speech than this (seconds) leaves DER undefined (it divides by it).
NO_SPEECH_S = 1e-6


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diarization", help="who spoke when: diarisation error rate", description=(
        "Score speaker turns against a reference with pyannote.metrics: diarisation error rate (DER) and its parts (missed speech, "
        "false alarm, speaker confusion), per file and overall. Speaker labels need not match: the best one-to-one mapping is used."))
    p.add_argument("--ref", required=True, metavar="RTTM", help="reference turns (e.g. reference.rttm from meetflow simulate)")
    p.add_argument("--hyp", required=True, metavar="RTTM", help="hypothesis turns (diarization.rttm or transcript.rttm from meetflow run)")
    p.add_argument("--collar", type=seconds, default=0.5, metavar="S",
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
    result = der(ref, hyp, collar=args.collar, skip_overlap=args.skip_overlap, uem=uem)
    undefined = _files_without_speech(args, ref, hyp, uem, result)
    none_at_all = result.total < NO_SPEECH_S
    scores = result.to_json()
    if none_at_all:
        # DER divides by the reference speech: with none, pyannote's 0% (or 100%) and the
        # error parts over ~0 s mean nothing. Say so instead of printing them.
        false_alarm_s = result.false_alarm * result.total
        scores.update(der=None, false_alarm=None, missed=None, confusion=None, total_speech_s=0.0, false_alarm_s=round(false_alarm_s, 3))
    scores["per_file"] = {fid: (None if fid in undefined else v) for fid, v in result.per_file.items()}
    if args.json:
        try:
            Path(args.json).write_text(json.dumps(scores, indent=1) + "\n", encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"cannot write {args.json}: {exc.strerror or exc}") from None
    for fid, v in result.per_file.items():
        print(f"{fid:<24} DER {'n/a' if fid in undefined else f'{v:.1%}':>6}")
    if none_at_all:
        print(f"{'all':<24} DER    n/a  (no reference speech to score; {false_alarm_s:.1f} s of hypothesis speech there, all false alarm; "
              f"collar {args.collar} s)")
    else:
        print(f"{'all':<24} DER {result.der:6.1%}  (missed {result.missed:.1%}, false alarm {result.false_alarm:.1%}, "
              f"confusion {result.confusion:.1%}; {result.total:.1f} s of reference speech, collar {args.collar} s)")
    for line in _undefined_notes(args, undefined, none_at_all, uem):
        print(f"note: {line}")
    for line in _id_notes(args, ref, hyp, uem):
        print(f"note: {line}")
    return ExitCode.OK


def _files_without_speech(args: argparse.Namespace, ref: dict, hyp: dict, uem: dict | None, result) -> set[str]:  # noqa: ANN001
    """Reference files with no speech left to score (after --uem, --collar, --skip-overlap): their DER is undefined."""
    from nodes.speaker.evaluate import der

    if result.total < NO_SPEECH_S:
        return set(result.per_file)
    if len(result.per_file) == 1:
        return set()
    out = set()
    for fid in result.per_file:  # several files: score each alone to learn its own amount of speech
        one = der({fid: ref[fid]}, {fid: hyp.get(fid, [])}, collar=args.collar, skip_overlap=args.skip_overlap,
                  uem={fid: uem[fid]} if uem and fid in uem else None, match_single_file=False)
        if one.total < NO_SPEECH_S:
            out.add(fid)
    return out


def _undefined_notes(args: argparse.Namespace, undefined: set[str], none_at_all: bool, uem: dict | None) -> list[str]:
    if not undefined:
        return []
    why = [f"inside the regions of {args.uem}"] if uem is not None else []
    if args.collar > 0:
        why.append(f"outside the {args.collar:g} s collars")
    if args.skip_overlap:
        why.append("outside overlapped speech (--skip-overlap)")
    where = f" {' and '.join(why)}" if why else ""
    if none_at_all:
        return [f"DER is undefined: the reference has no speech{where}, and DER is a share of the reference speech"]
    return [f"DER is undefined for {some(undefined)}: no reference speech{where} (any hypothesis speech there still counts as false alarm in the overall DER)"]


def _id_notes(args: argparse.Namespace, ref: dict, hyp: dict, uem: dict | None) -> list[str]:
    """What the scores above silently assumed about file ids (RTTM's second field).

    A hypothesis written for another recording, or whose file ids were renamed, scores 100%
    missed speech with no error: say which files went unmatched, so a user does not read a
    mix-up as a broken diariser. (One file on each side is paired whatever the names.)
    """
    out = []
    if not hyp:
        out.append(f"{args.hyp} holds no turns")
    elif len(ref) == 1 and len(hyp) == 1 and set(ref) != set(hyp):
        out.append(f"{args.hyp}'s one file, {next(iter(hyp))!r}, was scored against the reference's one file, {next(iter(ref))!r}")
    elif len(ref) > 1 or len(hyp) > 1:
        if missing := set(ref) - set(hyp):
            out.append(f"{args.hyp} has no turns for {len(missing)} of the reference's {len(ref)} files ({some(missing)}): "
                       "they count as missed speech")
        if extra := set(hyp) - set(ref):
            out.append(f"{args.hyp} holds files the reference lacks, not scored: {some(extra)}")
    if uem is not None and (no_uem := set(ref) - set(uem)):
        out.append(f"{args.uem} has no regions for {some(no_uem)}: scored over their whole extent")
    return out
