"""``meetflow validate``: check a graph (and, with --input, that the input fits) without running it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ExitCode
from .common import add_graph_values, graph_values

if TYPE_CHECKING:
    from ..variables import Variable

#: Place of this command in `meetflow --help`.
ORDER = 20


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check a graph", description="Check a graph: node types, params, ports, edge types, cycles. With --input, also check that the input fits. "
                       "Models and files that parameters name (model, vocabulary_file, ...) are loaded only when a graph runs, so `run` reports those.")
    p.add_argument("graph", metavar="GRAPH")
    p.add_argument("--variables", action="store_true", help="also list the graph's variables (what --set takes): default, value, description")
    add_graph_values(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..context import RunContext
    from ..executors.base import Executor
    from ..graph_load import build_graph, declared_variables, read_document

    values = graph_values(args)
    path = Path(args.graph)
    doc = read_document(path)  # read once: checked as a graph, and its declared variables listed
    graph = build_graph(doc, values, strict="input" in values, path=path)
    checked = ""
    if "input" in values:
        ex = Executor(graph, RunContext())
        ex.build()
        ex.configure()
        checked = f"; input {values['input']} fits"
    print(f"{args.graph}: valid graph '{graph.name}' ({len(graph.nodes)} nodes, {len(graph.edges)} edges){checked}")
    if args.variables:
        _print_variables(declared_variables(doc, []), graph.variables)
    return ExitCode.OK


def _print_variables(declared: dict[str, Variable], used: dict[str, Any]) -> None:
    """The variables a graph declares, as a table: what ``--set NAME=VALUE`` can change, and what each is now."""
    import json

    from rich.console import Console
    from rich.table import Table

    if not declared:
        print("it declares no variables")
        return
    t = Table(title="variables (--set NAME=VALUE)", title_justify="left")
    t.add_column("name", style="bold")
    t.add_column("default")
    t.add_column("value")
    t.add_column("description")
    for name, var in declared.items():
        default = json.dumps(var.default) if var.has_default else "(required)"
        value = json.dumps(used[name]) if name in used else "-"
        t.add_row(name, default, value, var.description)
    Console(soft_wrap=False).print(t)
