"""``meetflow validate``: check a graph (and, with --input, that the input fits) without running it."""

from __future__ import annotations

import argparse

from ..errors import ExitCode
from .common import add_graph_values, graph_values

#: Place of this command in `meetflow --help`.
ORDER = 20


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check a graph", description="Check a graph: node types, params, ports, edge types, cycles. With --input, also check that the input fits. "
                       "Models and files that parameters name (model, vocabulary_file, ...) are loaded only when a graph runs, so `run` reports those.")
    p.add_argument("graph", metavar="GRAPH")
    add_graph_values(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..context import RunContext
    from ..executors.base import Executor
    from ..graph_load import load_graph

    values = graph_values(args)
    graph = load_graph(args.graph, values, strict="input" in values)
    checked = ""
    if "input" in values:
        ex = Executor(graph, RunContext())
        ex.build()
        ex.configure()
        checked = f"; input {values['input']} fits"
    print(f"{args.graph}: valid graph '{graph.name}' ({len(graph.nodes)} nodes, {len(graph.edges)} edges){checked}")
    return ExitCode.OK
