"""``meetflow eval``: score results against references, one sub-command per kind of result.

Each evaluator is a module ``pipeline/cli/evaluators/<name>.py`` defining ``ORDER`` and
``add_parser(subparsers)``; modules are found by name, so adding an evaluator (``doa``,
``diarization``, ``transcript``, ...) touches no other file. Evaluators import their metric
code (numpy, scipy, MeetEval, pyannote.metrics, ...) inside their handlers.
"""

from __future__ import annotations

import argparse
import pkgutil
from importlib import import_module
from types import ModuleType

from ..errors import ExitCode
from .common import Parser

#: Place of this command in `meetflow --help`.
ORDER = 45


def evaluator_modules() -> list[ModuleType]:
    """Every ``pipeline.cli.evaluators.*`` module, in ``ORDER``."""
    from . import evaluators

    mods = [import_module(f"{evaluators.__name__}.{m.name}") for m in pkgutil.iter_modules(evaluators.__path__) if not m.name.startswith("_")]
    return sorted(mods, key=lambda m: (getattr(m, "ORDER", 100), m.__name__))


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="score results against references", description="Score results against references.")
    esub = p.add_subparsers(dest="evaluator", metavar="EVALUATOR", parser_class=Parser)
    for module in evaluator_modules():
        module.add_parser(esub)

    def no_evaluator(args: argparse.Namespace) -> int:
        p.print_help()
        return ExitCode.USAGE

    p.set_defaults(func=no_evaluator)
