"""The ``meetflow`` command.

Each subcommand lives in its own module ``pipeline/cli/cmd_<name>.py`` that defines
``add_parser(subparsers)`` and ``ORDER`` (its place in ``--help``); modules are found by
name, so adding a command touches no other file. A command imports what it needs (models,
metric libraries, the node library) inside its handler, so ``--help`` stays instant.

Every failure a user can cause ends with one short message on stderr and its own exit
status (see ``pipeline.errors.ExitCode``), never a traceback; an unexpected exception is a
bug and is reported with the path of a log file that holds the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from importlib import import_module
from pathlib import Path
from typing import Sequence

from ..errors import ExitCode, MeetflowError
from .common import Parser



def command_modules() -> list:
    """Every ``pipeline.cli.cmd_*`` module, in ``ORDER``."""
    import pkgutil

    here = Path(__file__).parent
    mods = [import_module(f"{__package__}.{m.name}") for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("cmd_")]
    return sorted(mods, key=lambda m: (getattr(m, "ORDER", 100), m.__name__))

EPILOG = """\
examples:
  meetflow run graphs/meeting.json --input meeting.wav --out out/
  meetflow run graphs/transcribe.json --input talk.flac --set beam_size=1 --realtime
  meetflow nodes asr.whisper
"""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="meetflow", description="Streaming meeting transcription from microphone arrays.", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"meetflow {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for module in command_modules():
        module.add_parser(sub)
    return parser


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("meetflow")
    except Exception:
        return "0+unknown"


def _err(message: str) -> None:
    print(f"meetflow: {message}", file=sys.stderr)


def _crash_log(exc: BaseException) -> Path:
    path = Path(tempfile.gettempdir()) / f"meetflow-crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    path.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # told by the subcommand's own parser, so its usage line is the one shown
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        sub = subs[0].choices.get(getattr(args, "command", None) or "") if subs else None
        (sub or parser).error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "command", None):
        parser.print_help()
        return ExitCode.USAGE
    try:
        return int(args.func(args))
    except MeetflowError as exc:
        _err(exc.user_message())
        return exc.exit_code
    except KeyboardInterrupt:
        _err("interrupted")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # stdout closed early (e.g. piped into `head`): not an error of ours.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return ExitCode.OK
    except Exception as exc:  # a bug: keep the traceback out of the user's face, but keep it
        log = _crash_log(exc)
        _err(f"internal error: {type(exc).__name__}: {exc}\n  this is a bug in meetflow; the traceback is in {log}")
        return ExitCode.INTERNAL


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
