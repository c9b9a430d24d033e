"""``meetflow graph``: draw a graph as Graphviz DOT or Mermaid."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ExitCode
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
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return ExitCode.OK
