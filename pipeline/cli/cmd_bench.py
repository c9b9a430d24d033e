"""``meetflow bench KIND``: run a benchmark (each kind is a module of ``pipeline.bench``).

Kinds are discovered (``pipeline.bench.kinds``), so adding one touches no other file.
"""

from __future__ import annotations

import argparse

from ..bench import kinds
from .common import Parser

#: Place of this command in `meetflow --help`.
ORDER = 60


def add_parser(sub: argparse._SubParsersAction) -> None:
    found = kinds()
    p = sub.add_parser(
        "bench",
        help="run a benchmark (" + ", ".join(found) + ")",
        description="Run a benchmark: peers measured side by side in one run, reported with PASS/FAIL against their targets.",
    )
    ks = p.add_subparsers(dest="kind", metavar="KIND", parser_class=Parser, required=True)
    for name, mod in found.items():
        kp = ks.add_parser(name, help=getattr(mod, "HELP", ""), description=getattr(mod, "DESCRIPTION", None) or getattr(mod, "HELP", ""),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        if hasattr(mod, "add_arguments"):
            mod.add_arguments(kp)
        kp.set_defaults(func=mod.run)
