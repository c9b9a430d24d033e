"""``meetflow graph``: draw a graph as Graphviz DOT or Mermaid."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import ExitCode, OutputError
from .common import add_graph_values, graph_values

#: Place of this command in `meetflow --help`.
ORDER = 40


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("graph", help="draw a graph")
    p.add_argument("graph", metavar="GRAPH")
    p.add_argument("--format", "-f", choices=["dot", "mermaid"], default="dot")
    p.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")
    add_graph_values(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..graph_load import load_graph
    from .render import to_dot, to_mermaid

    graph = load_graph(args.graph, graph_values(args), strict=False)
    text = to_dot(graph) if args.format == "dot" else to_mermaid(graph)
    if args.output:
        _write_file(Path(args.output), text, Path(args.graph))
    else:
        _write_stdout(text)
    return ExitCode.OK


def _write_file(out: Path, text: str, graph_file: Path) -> None:
    if out.is_dir():
        raise OutputError(f"--output {out}: is a folder; give a file name (e.g. {out / 'graph.dot'})")
    try:
        if out.exists() and graph_file.exists() and out.samefile(graph_file):
            raise OutputError(f"--output {out}: is the graph itself; the drawing would replace it")
    except OSError:
        pass
    if not out.parent.is_dir():
        what = f"{out.parent} is a file, not a folder" if out.parent.exists() else f"no folder {out.parent}/ to write into"
        raise OutputError(f"--output {out}: {what}")
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}") from None


def _write_stdout(text: str) -> None:
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise  # a reader that stopped early (| head): main treats it as done
    except OSError as exc:
        # What is still buffered would fail again when Python exits: point stdout at /dev/null.
        try:
            fd = os.open(os.devnull, os.O_WRONLY)
            os.dup2(fd, sys.stdout.fileno())
            os.close(fd)
        except (OSError, ValueError):
            pass
        raise OutputError(f"cannot write to standard output: {exc.strerror or exc}") from None
