"""Run metrics: per-node processing time, per-edge queue depth and drops, latency.

Per-packet bookkeeping is the engine's main overhead at 20 ms blocks, so processing time is
kept in constant-size log histograms (p50/p95 without storing samples) and, in the inline
executor, measured on a sample of cascades (see ``executors.inline``). Memory does not grow
with the length of the input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

_BASE = 1e-7  # 100 ns: the finest resolution we care about
_PER_DECADE = 20  # ~12% bucket width


class Histogram:
    """A log-bucketed histogram of positive durations (seconds) with exact count, sum and max."""

    __slots__ = ("counts", "n", "total", "max")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.n = 0
        self.total = 0.0
        self.max = 0.0

    def add(self, value: float) -> None:
        self.n += 1
        self.total += value
        if value > self.max:
            self.max = value
        b = int(math.log10(value / _BASE) * _PER_DECADE) if value > _BASE else 0
        self.counts[b] = self.counts.get(b, 0) + 1

    def merge(self, other: "Histogram") -> None:
        self.n += other.n
        self.total += other.total
        self.max = max(self.max, other.max)
        for b, c in other.counts.items():
            self.counts[b] = self.counts.get(b, 0) + c

    def quantile(self, q: float) -> float:
        if not self.n:
            return 0.0
        rank = q * self.n
        seen = 0
        for b in sorted(self.counts):
            seen += self.counts[b]
            if seen >= rank:
                # geometric centre of the bucket, capped by the exact maximum
                return min(_BASE * 10 ** ((b + 0.5) / _PER_DECADE), self.max)
        return self.max

    def summary(self, scale: float = 1000.0, digits: int = 3) -> dict[str, float]:
        return {
            "p50": round(self.quantile(0.5) * scale, digits),
            "p95": round(self.quantile(0.95) * scale, digits),
            "max": round(self.max * scale, digits),
            "mean": round(self.total / self.n * scale, digits) if self.n else 0.0,
        }


@dataclass
class NodeStats:
    """Processing time of one node.

    ``sampled`` holds calls timed inside sampled cascades (inline executor) and ``exact``
    calls timed one by one (heavy nodes, the threaded executor). ``blocked_s`` is time spent
    waiting for room downstream, which is not processing time.
    """

    node_id: str
    type_name: str
    sampled: Histogram = field(default_factory=Histogram)
    exact: Histogram = field(default_factory=Histogram)
    blocked_s: float = 0.0
    error: str | None = None

    def to_json(self, sample_ratio: float) -> dict[str, Any]:
        both = Histogram()
        both.merge(self.sampled)
        both.merge(self.exact)
        est_time = self.sampled.total * sample_ratio + self.exact.total
        out: dict[str, Any] = {
            "type": self.type_name,
            "timed_calls": both.n,
            "time_ms": both.summary(),
            "est_total_s": round(est_time, 4),
        }
        if self.blocked_s:
            out["blocked_s"] = round(self.blocked_s, 4)
        if self.error:
            out["error"] = self.error
        return out


@dataclass
class EdgeStats:
    """Queue behaviour of one edge: the deepest it got, packets dropped, growth past capacity."""

    label: str
    capacity: int
    policy: str
    max_depth: int = 0
    drops: int = 0
    overflows: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "capacity": self.capacity,
            "policy": self.policy,
            "max_depth": self.max_depth,
            "drops": self.drops,
            "overflows": self.overflows,
        }


class Reservoir:
    """Up to ``size`` values kept by reservoir sampling (deterministic seed): exact
    quantiles for short runs, unbiased estimates for long ones, constant memory."""

    def __init__(self, size: int = 4096) -> None:
        import random

        self.size = size
        self.values: list[float] = []
        self.n = 0
        self._rng = random.Random(0)

    def add(self, value: float) -> None:
        self.n += 1
        if len(self.values) < self.size:
            self.values.append(value)
        else:
            j = self._rng.randrange(self.n)
            if j < self.size:
                self.values[j] = value

    def quantile(self, q: float) -> float:
        if not self.values:
            return float("nan")
        v = sorted(self.values)
        pos = q * (len(v) - 1)
        lo = int(math.floor(pos))
        hi = min(lo + 1, len(v) - 1)
        return v[lo] + (v[hi] - v[lo]) * (pos - lo)


class LatencyStats:
    """Named latency series in seconds (first partial, final, ...), for ``metrics.json``.

    Values may be negative: in a replay faster than real time, results come out before a
    real-time player would have reached the audio.
    """

    def __init__(self) -> None:
        self.series: dict[str, Reservoir] = {}
        #: The newest value of each series with the media time it refers to, replaced whole
        #: (safe to read from other threads): live control such as load shedding learns
        #: from it how late results come out.
        self.last: dict[str, tuple[float | None, float]] = {}

    def add(self, name: str, seconds: float, media_t: float | None = None) -> None:
        r = self.series.get(name)
        if r is None:
            r = self.series[name] = Reservoir()
        r.add(seconds)
        self.last[name] = (media_t, seconds)

    #: Series every real-time run reports, even when empty (p50/p95 null then).
    REALTIME_SERIES = ("first_partial_s", "final_s")

    def to_json(self, realtime: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if realtime:
            for name in self.REALTIME_SERIES:
                if name not in self.series:
                    out[name] = {"p50": None, "p95": None, "max": None, "count": 0}
        for name, r in sorted(self.series.items()):
            out[name] = {
                "p50": round(r.quantile(0.5), 3),
                "p95": round(r.quantile(0.95), 3),
                "max": round(max(r.values), 3),
                "count": r.n,
            }
        return out


_CORE_SECTIONS = ("run", "nodes", "edges", "latency")


@dataclass
class RunMetrics:
    """Everything ``metrics.json`` reports about one run."""

    executor: str
    nodes: dict[str, NodeStats]
    edges: dict[str, EdgeStats]
    latency: LatencyStats = field(default_factory=LatencyStats)
    sample_ratio: float = 1.0
    wall_s: float = 0.0
    media_s: float = 0.0
    realtime: bool = False
    interrupted: bool = False
    failed: str | None = None
    #: Sections reported by nodes (``RunContext.report``): capture statistics, load shedding.
    report: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "run": {
                "executor": self.executor,
                "realtime": self.realtime,
                "wall_s": round(self.wall_s, 3),
                "media_s": round(self.media_s, 3),
                "speed_x_realtime": round(self.media_s / self.wall_s, 2) if self.wall_s > 0 else None,
                "interrupted": self.interrupted,
                "failed": self.failed,
                "timing_sample_ratio": round(self.sample_ratio, 2),
            },
            "nodes": {nid: s.to_json(self.sample_ratio) for nid, s in self.nodes.items()},
            "edges": {label: s.to_json() for label, s in self.edges.items()},
            "latency": self.latency.to_json(self.realtime),
            **{name: dict(section) for name, section in sorted(self.report.items()) if name not in _CORE_SECTIONS},
        }
