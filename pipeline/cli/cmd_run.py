"""``meetflow run``: load a graph, run it with a view, write metrics, report.

Stopping: the first Ctrl-C (or SIGTERM) asks the sources to stop; everything already read
is processed and every sink flushes, so the transcript on disk is complete up to that
point (exit status 130). A second Ctrl-C aborts at once; finals already written are on disk
regardless, since the journal is flushed line by line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

from ..context import RunContext
from ..errors import ExitCode, MeetflowError, OutputError
from ..executors import EXECUTORS
from ..graph_load import load_graph
from ..metrics import RunMetrics
from ..node import Source
from ..trace import TraceWriter
from .common import add_graph_values, graph_values

#: Place of this command in `meetflow --help`.
ORDER = 10


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a graph", description="Run a graph over its input until the input ends (or Ctrl-C).")
    p.add_argument("graph", metavar="GRAPH", help="graph JSON file (e.g. graphs/meeting.json)")
    add_graph_values(p)
    p.add_argument("--executor", "-e", choices=["inline", "threaded"], default=None, help="scheduler: inline (deterministic, fastest replay; default) or threaded (one thread per node)")
    p.add_argument("--realtime", action="store_true", help="pace file input to the wall clock, as if it were live")
    p.add_argument("--trace", metavar="FILE", help="write a Chrome/Perfetto trace of every node call")
    p.add_argument("--metrics", metavar="FILE", help="where to write metrics.json (default: OUT/metrics.json)")
    p.add_argument("--quiet", "-q", action="store_true", help="no live view, no progress, no summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return run_command(args, graph_values(args))


@contextlib.contextmanager
def graceful_stop(context: RunContext, quiet: bool) -> Iterator[None]:
    """First SIGINT/SIGTERM: stop the sources and flush. Second: abort."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, _frame: Any) -> None:
        if context.stop.is_set():
            raise KeyboardInterrupt
        context.stop.set()
        if not quiet:
            print("\nmeetflow: stopping; finishing what was read and writing the transcript (Ctrl-C again to abort)", file=sys.stderr)

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)


def _write_metrics(path: Path | None, metrics: RunMetrics) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(metrics.to_json(), indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def _summary(metrics: RunMetrics, context: RunContext, out: Path | None) -> str:
    speed = f" ({metrics.media_s / metrics.wall_s:.1f}x real time)" if metrics.wall_s > 0 and metrics.media_s > 0 else ""
    where = f"; results in {out}/" if out else ""
    head = "stopped after" if metrics.interrupted else "processed"
    return f"{head} {metrics.media_s:.1f} s of media in {metrics.wall_s:.1f} s{speed}{where}"


def run_command(args: argparse.Namespace, values: dict[str, Any]) -> int:
    graph = load_graph(args.graph, values)
    out = graph.variables.get("out")
    out_dir = Path(out) if isinstance(out, str) and out else None
    metrics_path = Path(args.metrics) if args.metrics else (out_dir / "metrics.json" if out_dir else None)
    context = RunContext(out_dir=out_dir, realtime=args.realtime, quiet=args.quiet)
    executor_name = args.executor or "inline"
    trace = TraceWriter(args.trace) if args.trace else None
    executor = EXECUTORS[executor_name](graph, context, trace)

    def progress() -> tuple[float, float | None]:
        sources = [n for n in executor.nodes.values() if isinstance(n, Source)]
        if not sources:
            return 0.0, None
        pos = min(s.position for s in sources)
        durations = [s.duration for s in sources]
        return pos, (max(d for d in durations if d) if all(durations) else None)

    view: Any = contextlib.nullcontext()
    if not args.quiet:
        from rich.console import Console

        from .view import LiveView, ProgressOnly

        if sys.stdout.isatty():
            live = LiveView(Console(), progress)
            context.views.append(live)
            view = live
        elif sys.stderr.isatty():
            view = ProgressOnly(Console(stderr=True), progress)

    failure: MeetflowError | None = None
    with graceful_stop(context, args.quiet):
        try:
            with view:
                executor.run()
        except MeetflowError as exc:
            failure = exc
        finally:
            if executor.nodes:  # the run started: its metrics are worth keeping
                _write_metrics(metrics_path, executor.metrics)
    for warning in context.summary.get("warnings", []):
        print(f"meetflow: warning: {warning}", file=sys.stderr)
    if failure is not None:
        raise failure
    metrics = executor.metrics
    if not args.quiet:
        print(f"meetflow: {_summary(metrics, context, out_dir)}", file=sys.stderr)
    damaged = context.summary.get("input_damaged", [])
    for note in damaged:
        print(f"meetflow: input error: {note}", file=sys.stderr)
    if metrics.interrupted:
        return ExitCode.INTERRUPTED
    return ExitCode.INPUT if damaged else ExitCode.OK
