"""``meetflow run``: load a graph, run it with its views, write metrics, report.

Stopping: the first Ctrl-C (or SIGTERM) asks the sources to stop; everything already read
is processed and every sink flushes, so the transcript on disk is complete up to that
point (exit status 130). A second Ctrl-C aborts at once; finals already written are on disk
regardless, since the journal is flushed line by line.

A graph whose input is a live device (``--input mic``) runs on the threaded executor
unless told otherwise, so that a slow recogniser never holds up capture, and its edges'
overload policies apply.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

from ..context import RunContext
from ..errors import ExitCode, MeetflowError, OutputError, UsageError
from ..executors import EXECUTORS
from ..graph import Graph
from ..graph_load import load_graph
from ..metrics import RunMetrics
from ..trace import TraceWriter
from .common import add_graph_values, graph_values
from .run_outputs import (check_not_inputs, check_run_file, files_to_replace, hold_out_dir, left_beside, looks_like_metrics, looks_like_trace,
                          refuse_to_replace)
from .status import RunStatus

#: Place of this command in `meetflow --help`.
ORDER = 10


def add_run_options(p: argparse.ArgumentParser) -> None:
    """The options ``run`` and ``record`` share."""
    p.add_argument("graph", metavar="GRAPH", help="graph JSON file (e.g. graphs/meeting.json)")
    add_graph_values(p)
    p.add_argument(
        "--executor", "-e", choices=["inline", "threaded"], default=None,
        help="scheduler: inline (deterministic, fastest replay; the default for files) or threaded (one thread per node; the default for live input)",
    )
    p.add_argument("--realtime", action="store_true", help="pace file input to the wall clock, as if it were live")
    p.add_argument("--trace", metavar="FILE", help="write a Chrome/Perfetto trace of every node call")
    p.add_argument("--metrics", metavar="FILE", help="where to write metrics.json (default: OUT/metrics.json)")
    p.add_argument("--web", action="store_true", help="serve a live web view (transcript, talker compass, load) at http://127.0.0.1:8765/")
    p.add_argument("--web-port", metavar="PORT", type=int, default=None, help="port of the web view (0 picks a free one; default 8765)")
    p.add_argument("--web-host", metavar="HOST", default="127.0.0.1", help="address the web view listens on (default 127.0.0.1: this machine only)")
    p.add_argument("--quiet", "-q", action="store_true", help="no live view, no progress, no summary")
    p.add_argument("--overwrite", action="store_true", help="replace the results of an earlier run in the output folder "
                   "(without it, a run that would write over them stops before it starts)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="run a graph",
        description="Run a graph over its input until the input ends (or Ctrl-C). --input takes a recording or a live device (mic, mic:NAME, mic:N; see `meetflow devices`).",
    )
    add_run_options(p)
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
            again = "Ctrl-C again" if signum == signal.SIGINT else "a second SIGTERM"
            print(f"\nmeetflow: stopping; finishing what was read and writing the transcript ({again} to abort)", file=sys.stderr)

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


class _Said(logging.Filter):
    """Remembers what was printed, so that the end of the run does not say it again."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        self.messages.add(record.getMessage())
        return True


@contextlib.contextmanager
def _stderr_notices(log: logging.Logger, enabled: bool, said: _Said | None = None) -> Iterator[None]:
    """Print the run's log notices (INFO and up) on stderr as ``meetflow: ...`` lines."""
    if not enabled:
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("meetflow: %(message)s"))
    if said is not None:
        handler.addFilter(said)
    saved = log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(saved[0])
        log.propagate = saved[1]


def _end_note(failure: MeetflowError | None, metrics: RunMetrics, context: RunContext) -> dict[str, Any]:
    """What the web view shows when the run is over."""
    if failure is not None:
        message = "failed: " + failure.user_message().splitlines()[0]
    elif context.summary.get("input_damaged"):
        message = "input ended early"
    elif metrics.interrupted:
        message = "stopped"
    else:
        message = "finished"
    return {"message": message, "media_s": round(metrics.media_s, 2), "wall_s": round(metrics.wall_s, 2)}


def _overload_warnings(metrics: RunMetrics) -> list[str]:
    """What overload protection dropped in this run, one line per shedder and per edge."""
    lines = []
    for nid, s in sorted(metrics.report.get("shedding", {}).items()):
        if s.get("segments_dropped") or s.get("segments_cut"):
            lines.append(
                f"{nid}: recognition fell behind: {s['segments_dropped']} of {s['segments']} speech segment(s) dropped whole and "
                f"{s['segments_cut']} cut short ({s['speech_dropped_s']:.1f} s of {s['speech_s']:.1f} s of speech not transcribed) "
                f"to keep final text within {s['budget_s']:g} s; see 'shedding' in metrics.json"
            )
    for label, e in sorted(metrics.edges.items()):
        if e.drops:
            lines.append(f"{label}: {e.drops} packet(s) dropped ({e.policy}, queue full); see 'edges' in metrics.json")
    return lines


def _summary(metrics: RunMetrics, context: RunContext, out: Path | None) -> str:
    speed = f" ({metrics.media_s / metrics.wall_s:.1f}x real time)" if metrics.wall_s > 0 and metrics.media_s > 0 else ""
    where = f"; results in {out}/" if out else ""
    head = "stopped after" if metrics.interrupted else "processed"
    if context.live:
        return f"{head} {metrics.media_s:.1f} s of live audio{where}"
    return f"{head} {metrics.media_s:.1f} s of media in {metrics.wall_s:.1f} s{speed}{where}"


def run_command(args: argparse.Namespace, values: dict[str, Any], graph: Graph | None = None, announce: str | None = None) -> int:
    """Run a graph as ``meetflow run`` does (``graph``: already loaded, e.g. by ``record``; ``announce``: a line
    for stderr once the run is sure to start)."""
    if graph is None:
        graph = load_graph(args.graph, values)
    out = graph.variables.get("out")
    out_dir = Path(out) if isinstance(out, str) and out else None
    metrics_path = Path(args.metrics) if args.metrics else (out_dir / "metrics.json" if out_dir else None)
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"--out {out_dir}: is a file, not a folder")
    web_port = getattr(args, "web_port", None)
    if web_port is not None and not getattr(args, "web", False):
        raise UsageError(f"--web-port {web_port}: only with --web (the live web view)")
    if web_port is not None and not 0 <= web_port <= 65535:
        raise UsageError(f"--web-port: {web_port} is not a port number (0-65535)")
    overwrite = bool(getattr(args, "overwrite", False))
    with hold_out_dir(out_dir):
        check_not_inputs(graph)
        if args.metrics and metrics_path is not None:
            check_run_file("--metrics", metrics_path, graph, overwrite, looks_like_metrics)
        elif metrics_path is not None:
            check_run_file("metrics", metrics_path, graph, True, looks_like_metrics)
        if args.trace:
            check_run_file("--trace", Path(args.trace), graph, overwrite, looks_like_trace)
        found = files_to_replace(graph)
        if found and not overwrite:
            refuse_to_replace(found, out_dir)
        if found:
            others = left_beside(graph, out_dir)
            if others:
                names = ", ".join(p.name for p in others[:6]) + (f" and {len(others) - 6} more" if len(others) > 6 else "")
                print(f"meetflow: note: {out_dir}/ also holds {names}, which this run does not write: left as they were, "
                      "beside the new results", file=sys.stderr)
        return _run_checked(args, graph, out_dir, metrics_path, announce)


def _run_checked(args: argparse.Namespace, graph: Graph, out_dir: Path | None, metrics_path: Path | None, announce: str | None) -> int:
    """``run_command`` once every output has been checked and the output folder is held."""
    if announce and not args.quiet:
        print(f"meetflow: {announce}", file=sys.stderr, flush=True)
    context = RunContext(out_dir=out_dir, realtime=args.realtime, quiet=args.quiet)
    live_input = graph.live
    executor_name = args.executor or ("threaded" if live_input else "inline")
    try:
        trace = TraceWriter(args.trace) if args.trace else None
    except OSError as exc:
        raise OutputError(f"--trace {args.trace}: cannot write it ({exc.strerror or exc})") from None
    executor = EXECUTORS[executor_name](graph, context, trace)
    status = RunStatus(executor, context)
    progress = status.position

    web: Any = None
    if getattr(args, "web", False):
        from .web import WebView

        web = WebView(args.web_host, 8765 if args.web_port is None else args.web_port, status, title=graph.name).start()
        context.views.append(web)
        print(f"meetflow: live view at {web.url}", file=sys.stderr, flush=True)

    view: Any = contextlib.nullcontext()
    if not args.quiet:
        from rich.console import Console

        from .view import LiveView, ProgressOnly

        if sys.stdout.isatty():
            live = LiveView(Console(), progress, status)
            context.views.append(live)
            view = live
        elif sys.stderr.isatty():
            view = ProgressOnly(Console(stderr=True), progress)
    # Without a terminal view, nodes' notices (a device starting, damage found) go to
    # stderr as plain lines.
    notices_on = not args.quiet and not context.views_print_finals()
    said = _Said()
    notices = _stderr_notices(context.log, notices_on, said)

    failure: MeetflowError | None = None
    try:
        with graceful_stop(context, args.quiet), notices:
            try:
                with view:
                    executor.run()
            except MeetflowError as exc:
                failure = exc
            finally:
                if executor.nodes and (failure is None or executor.metrics.media_s > 0):  # the run got going: its metrics are worth keeping
                    try:
                        _write_metrics(metrics_path, executor.metrics)
                    except OutputError as exc:
                        if failure is None:
                            failure = exc
                        else:  # the run's own failure is the one to report
                            print(f"meetflow: warning: {exc.user_message()}", file=sys.stderr)
    finally:
        if web is not None:
            web.end(_end_note(failure, executor.metrics, context))
            web.stop()
    for warning in [*context.summary.get("warnings", []), *_overload_warnings(executor.metrics)]:
        if warning in said.messages:
            continue  # printed as it happened
        print(f"meetflow: warning: {warning}", file=sys.stderr)
    if failure is not None:
        raise failure
    metrics = executor.metrics
    if not args.quiet:
        print(f"meetflow: {_summary(metrics, context, out_dir)}", file=sys.stderr)
    damaged = context.summary.get("input_damaged", [])
    for note in damaged:
        if note not in said.messages:  # else printed when it was found
            print(f"meetflow: input error: {note}", file=sys.stderr)
    if metrics.interrupted:
        return ExitCode.INTERRUPTED
    return ExitCode.INPUT if damaged else ExitCode.OK
