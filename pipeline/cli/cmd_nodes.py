"""``meetflow nodes``: list node types, or describe one."""

from __future__ import annotations

import argparse

from ..errors import ExitCode

#: Place of this command in `meetflow --help`.
ORDER = 30


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("nodes", help="list or describe node types")
    p.add_argument("type", nargs="?", metavar="TYPE", help="a node type, e.g. asr.whisper")
    p.add_argument("--json", action="store_true", help="machine-readable output (JSON Schema of params)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from .describe import describe

    describe(args.type, args.json, Console(soft_wrap=args.json))
    return ExitCode.OK
