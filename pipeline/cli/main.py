"""The ``meetflow`` command.

Every failure a user can cause ends with one short message on stderr and its own exit
status (see ``pipeline.errors.ExitCode``), never a traceback; an unexpected exception is a
bug and is reported with the path of a log file that holds the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Sequence

from ..errors import ExitCode, MeetflowError, UsageError

COMMANDS_HELP = """\
commands:
  run GRAPH       run a graph (e.g. transcribe a recording)
  validate GRAPH  check a graph without running it
  nodes [TYPE]    list node types, or describe one (ports, params, JSON Schema)
  graph GRAPH     draw a graph as Graphviz DOT or Mermaid
  export JOURNAL  rebuild transcript files from a transcript.jsonl journal

examples:
  meetflow run graphs/meeting.json --input meeting.wav --out out/
  meetflow run graphs/transcribe.json --input talk.flac --set beam_size=1 --realtime
  meetflow nodes asr.whisper
"""


class _Parser(argparse.ArgumentParser):
    """argparse exits with 2 on usage errors; 2 means "bad graph" here, so use 64."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(ExitCode.USAGE, f"{self.prog}: error: {message}\n")


def _add_values(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", "-i", metavar="PATH", help="the graph's input (sets the variable 'input')")
    p.add_argument("--out", "-o", metavar="DIR", help="output folder (sets the variable 'out')")
    p.add_argument("--set", "-s", metavar="NAME=VALUE", action="append", default=[], help="set a graph variable (value parsed as JSON when it parses); repeatable")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="meetflow", description="Streaming meeting transcription from microphone arrays.", epilog=COMMANDS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"meetflow {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = sub.add_parser("run", help="run a graph", description="Run a graph over its input until the input ends (or Ctrl-C).")
    run.add_argument("graph", metavar="GRAPH", help="graph JSON file (e.g. graphs/meeting.json)")
    _add_values(run)
    run.add_argument("--executor", "-e", choices=["inline", "threaded"], default=None, help="scheduler: inline (deterministic, fastest replay; default) or threaded (one thread per node; default for live input)")
    run.add_argument("--realtime", action="store_true", help="pace file input to the wall clock, as if it were live")
    run.add_argument("--trace", metavar="FILE", help="write a Chrome/Perfetto trace of every node call")
    run.add_argument("--metrics", metavar="FILE", help="where to write metrics.json (default: OUT/metrics.json)")
    run.add_argument("--quiet", "-q", action="store_true", help="no live view, no progress, no summary")
    run.set_defaults(func=cmd_run)

    val = sub.add_parser("validate", help="check a graph", description="Check a graph: node types, params, ports, edge types, cycles. With --input, also check that the input fits.")
    val.add_argument("graph", metavar="GRAPH")
    _add_values(val)
    val.set_defaults(func=cmd_validate)

    nodes = sub.add_parser("nodes", help="list or describe node types")
    nodes.add_argument("type", nargs="?", metavar="TYPE", help="a node type, e.g. asr.whisper")
    nodes.add_argument("--json", action="store_true", help="machine-readable output (JSON Schema of params)")
    nodes.set_defaults(func=cmd_nodes)

    graph = sub.add_parser("graph", help="draw a graph")
    graph.add_argument("graph", metavar="GRAPH")
    graph.add_argument("--format", "-f", choices=["dot", "mermaid"], default="dot")
    graph.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")
    _add_values(graph)
    graph.set_defaults(func=cmd_graph)

    exp = sub.add_parser("export", help="rebuild transcript files from a journal", description="Rebuild transcript files from a transcript.jsonl journal (e.g. after a crash, or to get another format).")
    exp.add_argument("journal", metavar="JOURNAL", help="a transcript.jsonl file")
    exp.add_argument("--format", "-f", action="append", choices=["seglst", "vtt", "srt", "rttm", "stm", "ctm"], help="format(s) to write (default: seglst, vtt, srt, rttm)")
    exp.add_argument("--out", "-o", metavar="DIR", help="output folder (default: the journal's folder)")
    exp.add_argument("--session", help="session / file id (default: 'meeting')")
    exp.set_defaults(func=cmd_export)
    return parser


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("meetflow")
    except Exception:
        return "0+unknown"


def _values(args: argparse.Namespace) -> dict[str, Any]:
    from ..variables import parse_assignment

    values: dict[str, Any] = {}
    for item in args.set:
        name, value = parse_assignment(item)
        values[name] = value
    if getattr(args, "input", None) is not None:
        values["input"] = args.input
    if getattr(args, "out", None) is not None:
        values["out"] = args.out
    return values


def _err(message: str) -> None:
    print(f"meetflow: {message}", file=sys.stderr)


# -- commands ------------------------------------------------------------------------------------
def cmd_validate(args: argparse.Namespace) -> int:
    from ..context import RunContext
    from ..executors.base import Executor
    from ..graph_load import load_graph

    values = _values(args)
    graph = load_graph(args.graph, values, strict="input" in values)
    checked = ""
    if "input" in values:
        ex = Executor(graph, RunContext())
        ex.build()
        ex.configure()
        checked = f"; input {values['input']} fits"
    print(f"{args.graph}: valid graph '{graph.name}' ({len(graph.nodes)} nodes, {len(graph.edges)} edges){checked}")
    return ExitCode.OK


def cmd_nodes(args: argparse.Namespace) -> int:
    from rich.console import Console

    from .describe import describe

    describe(args.type, args.json, Console(soft_wrap=args.json))
    return ExitCode.OK


def cmd_graph(args: argparse.Namespace) -> int:
    from ..graph_load import load_graph
    from .render import to_dot, to_mermaid

    graph = load_graph(args.graph, _values(args), strict=False)
    text = to_dot(graph) if args.format == "dot" else to_mermaid(graph)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return ExitCode.OK


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export_journal

    written = export_journal(Path(args.journal), args.format or ["seglst", "vtt", "srt", "rttm"], Path(args.out) if args.out else None, args.session)
    for path in written:
        print(path)
    return ExitCode.OK


def cmd_run(args: argparse.Namespace) -> int:
    from .run import run_command

    return run_command(args, _values(args))


# -- entry point ------------------------------------------------------------------------------------
def _crash_log(exc: BaseException) -> Path:
    folder = Path(tempfile.gettempdir())
    path = folder / f"meetflow-crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    path.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
