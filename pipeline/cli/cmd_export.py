"""``meetflow export``: rebuild transcript files from the JSONL journal.

The journal is written line by line and forced to disk for finals, so it is the record that
survives a crash; this command turns it back into SegLST, WebVTT, SRT, RTTM, STM or CTM.
A last line cut off by the crash is skipped with a warning.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import ExitCode, InputError, OutputError
from ..payloads import TranscriptUpdate

#: Place of this command in `meetflow --help`.
ORDER = 50


def read_journal(path: Path) -> list[TranscriptUpdate]:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    updates = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            updates.append(TranscriptUpdate.from_json(json.loads(line)))
        except (ValueError, KeyError, TypeError) as exc:
            if n == len(lines):
                print(f"meetflow: warning: {path}:{n}: incomplete last line skipped", file=sys.stderr)
                continue
            raise InputError(f"{path}:{n}: not a transcript journal line ({exc})") from None
    return updates


def session_beside(journal: Path, stem: str) -> str | None:
    """The session id the run wrote beside its journal (its SegLST's, else its RTTM's): the journal itself
    does not carry it, and an export should name the meeting as the run did (by default, the recording's name)."""
    seglst = journal.parent / f"{stem}.seglst.json"
    try:
        doc = json.loads(seglst.read_text(encoding="utf-8"))
        if isinstance(doc, list) and doc and isinstance(doc[0], dict) and isinstance(doc[0].get("session_id"), str):
            return doc[0]["session_id"]
    except (OSError, ValueError):
        pass
    try:
        for line in (journal.parent / f"{stem}.rttm").read_text(encoding="utf-8").splitlines():
            fields = line.split()
            if len(fields) > 1 and fields[0] == "SPEAKER":
                return fields[1]
    except (OSError, UnicodeDecodeError):
        pass
    return None


def export_journal(journal: Path, formats: list[str], out_dir: Path | None, session: str | None, overwrite: bool = False) -> list[Path]:
    """Write each format from the journal; refuses (before writing any) to replace a file that holds something else."""
    # The renderers live with the transcript nodes; they are plain functions of the updates.
    from nodes.transcript.formats import FORMATS
    from nodes.transcript.state import TranscriptState
    from nodes.transcript.writer import atomic_write

    from .run_outputs import holds_something

    updates = read_journal(journal)
    finals = TranscriptState.from_updates(updates).finals()
    if not finals:
        print(f"meetflow: note: {journal} holds no final segments; the files written are empty", file=sys.stderr)
    folder = out_dir or journal.parent
    stem = journal.name[: -len(".jsonl")] if journal.name.endswith(".jsonl") else journal.stem
    session = session or session_beside(journal, stem) or "meeting"
    planned = [(folder / f"{stem}{FORMATS[name][0]}", FORMATS[name][1](finals, session)) for name in formats]
    if not overwrite:
        differ = []
        for path, text in planned:
            try:
                if path.is_file() and holds_something(path) and path.read_text(encoding="utf-8", errors="replace") != text:
                    differ.append(path)
            except OSError:
                continue  # writing it reports the problem
        if differ:
            names = ", ".join(str(p) for p in differ)
            raise OutputError(f"{names}: {'holds' if len(differ) == 1 else 'hold'} something other than this journal gives "
                              "(an earlier run's, or edited); write elsewhere with --out, or add --overwrite to replace")
    written = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for path, text in planned:
            atomic_write(path, text)
            written.append(path)
    except OSError as exc:
        raise OutputError(f"cannot write to {folder}: {exc.strerror or exc}") from None
    return written


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="rebuild transcript files from a journal", description="Rebuild transcript files from a transcript.jsonl journal (e.g. after a crash, or to get another format).")
    p.add_argument("journal", metavar="JOURNAL", help="a transcript.jsonl file")
    p.add_argument("--format", "-f", action="append", choices=["seglst", "vtt", "srt", "rttm", "stm", "ctm"], help="format(s) to write (default: seglst, vtt, srt, rttm)")
    p.add_argument("--out", "-o", metavar="DIR", help="output folder (default: the journal's folder)")
    p.add_argument("--session", help="session / file id (default: the one the run wrote beside the journal, else 'meeting')")
    p.add_argument("--overwrite", action="store_true", help="replace files that hold something other than what the journal gives")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    written = export_journal(Path(args.journal), args.format or ["seglst", "vtt", "srt", "rttm"], Path(args.out) if args.out else None, args.session,
                             overwrite=args.overwrite)
    for path in written:
        print(path)
    return ExitCode.OK
