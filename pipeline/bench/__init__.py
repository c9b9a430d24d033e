"""Benchmarks that ``meetflow bench KIND`` runs: one module per kind.

A kind is a module with ``KIND`` (its name on the command line), ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. meetflow's own kinds are the modules
of this package; another distribution adds kinds through the ``meetflow.benchmarks``
entry-point group (``latency2 = "mypackage.bench_latency2"``). A kind imports its heavy
dependencies (models, the node library) inside ``run`` so that ``meetflow bench --help``
stays instant. Benchmarks measure the peers side by side in one run and report ratios
and PASS/FAIL against the targets they check.
"""

from __future__ import annotations

import logging
import pkgutil
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

ENTRY_POINT_GROUP = "meetflow.benchmarks"
log = logging.getLogger("meetflow.bench")


def kinds() -> dict[str, ModuleType]:
    """Every benchmark kind by name: built-in modules first, then plugins."""
    found: dict[str, ModuleType] = {}
    here = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        mod = import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "KIND") and hasattr(mod, "run"):
            found[mod.KIND] = mod
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            mod = ep.load()
        except Exception as exc:  # a broken plugin must not break the command
            log.warning("could not load benchmark plugin '%s' (%s): %s", ep.name, ep.value, exc)
            continue
        found.setdefault(getattr(mod, "KIND", ep.name), mod)
    return found


def repo_root() -> Path:
    """The folder holding ``graphs/`` (a source checkout or an editable install)."""
    return Path(__file__).resolve().parents[2]
