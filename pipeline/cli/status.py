"""A snapshot of a running graph for live views: node load, queues, drops, capture, latency.

Views poll it a few times a second from their own thread. Everything is read without
locks from structures that node threads update (counters, dicts replaced whole): a
snapshot may be a packet out of date, never wrong in a way that matters on screen.
"""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

from ..context import RunContext
from ..node import Source


class RunStatus:
    """Computes each node's load (share of one core, over the last poll interval)."""

    def __init__(self, executor: Any, context: RunContext) -> None:
        self.executor = executor
        self.context = context
        self._last_t = time.perf_counter()
        self._last_busy: dict[str, float] = {}
        self._load: dict[str, float] = {}
        self._lock = threading.Lock()  # the terminal and the web view may both ask

    def _busy(self) -> dict[str, float]:
        ratio = getattr(self.executor.metrics, "sample_ratio", 1.0) or 1.0
        nodes = self.executor.nodes
        # A live source's read() mostly waits for the device: that is not load.
        return {
            nid: s.exact.total + s.sampled.total * ratio
            for nid, s in self.executor.node_stats.items()
            if not (isinstance(nodes.get(nid), Source) and getattr(nodes.get(nid), "live", False))
        }

    def loads(self) -> dict[str, float]:
        """Share of one core each node uses (0.5 = half a core; models may use several),
        averaged over the last few seconds."""
        with self._lock:
            return dict(self._update_loads())

    def _update_loads(self) -> dict[str, float]:
        now = time.perf_counter()
        dt = now - self._last_t
        if dt < 0.5 and self._last_busy:
            return self._load
        busy = self._busy()
        if self._last_busy and dt > 0:
            k = min(1.0, dt / 2.0)  # ~2 s exponential average
            for nid, b in busy.items():
                now_load = max(0.0, (b - self._last_busy.get(nid, 0.0)) / dt)
                self._load[nid] = (1 - k) * self._load.get(nid, now_load) + k * now_load
        else:
            self._load = {nid: 0.0 for nid in busy}
        self._last_busy, self._last_t = busy, now
        return self._load

    def position(self) -> tuple[float, float | None]:
        sources = [n for n in self.executor.nodes.values() if isinstance(n, Source)]
        if not sources:
            return 0.0, None
        pos = min(s.position for s in sources)
        durations = [s.duration for s in sources]
        return pos, (max(d for d in durations if d) if all(durations) else None)

    def snapshot(self) -> dict[str, Any]:
        """Everything a view shows besides the transcript, as plain JSON-ready data."""
        ex = self.executor
        depths = ex.queue_depths() if hasattr(ex, "queue_depths") else {}
        queues = {label: {"packets": n, "seconds": round(span, 2)} for label, (n, span) in depths.items() if n}
        drops = {label: s.drops for label, s in ex.edge_stats.items() if s.drops}
        lat = self.context.latency.series
        latency = {}
        for name in ("final_s", "first_partial_s", "label_s"):
            r = lat.get(name)
            if r is not None and r.values:
                latency[name] = {"p50": round(r.quantile(0.5), 2), "max": round(max(r.values), 2), "count": r.n}
        pos, total = self.position()
        return {
            "live": self.context.live,
            "position_s": round(pos, 2),
            "duration_s": total,
            "load": {nid: round(v, 3) for nid, v in self.loads().items()},
            "queues": queues,
            "drops": drops,
            "latency": latency,
            "report": _copy(self.context.report),
        }


def _copy(data: dict[str, Any]) -> dict[str, Any]:
    """Deep copy of a dict that another thread may be adding keys to."""
    for _ in range(5):
        try:
            return copy.deepcopy(data)
        except RuntimeError:  # changed size during iteration: try again
            continue
    return {}
