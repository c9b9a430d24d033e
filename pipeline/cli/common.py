"""Helpers shared by the ``meetflow`` subcommands."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import ExitCode, UsageError


class Parser(argparse.ArgumentParser):
    """argparse exits with 2 on usage errors; 2 means "bad graph" here, so use 64."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(ExitCode.USAGE, f"{self.prog}: error: {message}\n")


def add_graph_values(p: argparse.ArgumentParser) -> None:
    """--input, --out and --set: the ways to give a graph's variables values."""
    p.add_argument("--input", "-i", metavar="PATH", help="the graph's input (sets the variable 'input')")
    p.add_argument("--out", "-o", metavar="DIR", help="output folder (sets the variable 'out')")
    p.add_argument("--set", "-s", metavar="NAME=VALUE", action="append", default=[], help="set a graph variable (value parsed as JSON when it parses); repeatable; "
                   "`meetflow validate GRAPH --variables` lists a graph's variables")


def graph_values(args: argparse.Namespace) -> dict[str, Any]:
    """The variable assignments given on the command line."""
    from ..variables import parse_assignment

    values: dict[str, Any] = {}
    for item in getattr(args, "set", []) or []:
        name, value = parse_assignment(item)
        values[name] = value
    for name in ("input", "out"):
        given = getattr(args, name, None)
        if given is None:
            continue
        if not given.strip():
            raise UsageError(f"--{name}: empty; name a {'recording or device' if name == 'input' else 'folder'}")
        if name in values and values[name] != given:
            raise UsageError(f"--{name} {given} and --set {name}={values[name]} disagree; give one")
        values[name] = given
    return values
