"""Executors: the same graph semantics on different schedulers (see ../shared/DESIGN.md, contract 5)."""

from __future__ import annotations

from ..context import RunContext
from ..graph import Graph
from ..metrics import RunMetrics
from ..trace import TraceWriter
from .base import Executor
from .inline import InlineExecutor
from .threaded import ThreadedExecutor

EXECUTORS: dict[str, type[Executor]] = {"inline": InlineExecutor, "threaded": ThreadedExecutor}


def run_graph(graph: Graph, context: RunContext | None = None, executor: str = "inline", trace: TraceWriter | None = None) -> RunMetrics:
    """Run ``graph`` to the end of its input and return the run's metrics."""
    cls = EXECUTORS[executor]
    return cls(graph, context or RunContext(), trace).run()


__all__ = ["EXECUTORS", "Executor", "InlineExecutor", "ThreadedExecutor", "run_graph"]
