"""The inline executor: one thread, deterministic, the fastest for replay.

Packets are pushed depth first: ``emit`` calls the consumer's ``process`` directly through a
table bound once per run (``(bound method, port)`` pairs, no per-hop look-ups), so a hop
costs little more than two Python calls. Nodes with several inputs get a ``MergeQueues``
in front that releases packets in media-time order. With several sources, the one that is
furthest behind in media time reads next, which keeps joins short.

Timing every call would cost more than the hop itself (two clock reads per call), so
processing time is measured on one source read in ``sample_every`` (every node in that
cascade, exclusive of its children), and every call of a node whose sampled calls prove
expensive (models) or that declares itself ``heavy`` is timed from then on.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from ..merge import MergeQueues
from ..node import Node, Source, Target
from ..packet import Packet
from .base import Executor, locate_failure


class _ChildTime:
    """Time spent in timed children of the call being timed (for exclusive times)."""

    __slots__ = ("acc",)

    def __init__(self) -> None:
        self.acc = 0.0


def _discard(_arg: Any, _packet: Packet) -> None:
    pass


def _fan_call(targets: tuple[Target, ...], packet: Packet) -> None:
    for fn, arg in targets:
        fn(arg, packet)


class InlineExecutor(Executor):
    name = "inline"
    #: A source read is timed at most once per this much wall time (checked every 16 reads).
    sample_interval_s = 0.002
    #: Mean own time per call above which a node is timed on every call.
    promote_s = 200e-6

    def _execute(self) -> None:
        self._child = _ChildTime()
        self._promoted: set[str] = {nid for nid, n in self.nodes.items() if n.heavy}
        self._dead: set[str] = set()
        self._merges: dict[str, MergeQueues] = {}
        self._by_id = {id(n): n for n in self.nodes.values()}
        for nid, node in self.nodes.items():
            ins = self.graph.in_edges(nid)
            policies = [d.policy for d in node.inputs.values()]
            if len(ins) > 1 or "latest" in policies:
                by_port = {e.dst_port: self.edge_stats[e.label] for e in ins}
                self._merges[nid] = MergeQueues(list(node.inputs), policies, [by_port.get(p) for p in node.inputs])
        self._bind()
        self._loop()
        self._end_of_stream()

    # -- binding ---------------------------------------------------------------------------
    def _timed(self, nid: str, target: Target, exact: bool) -> Target:
        fn, arg = target
        stats = self.node_stats[nid]
        hist = stats.exact if exact else stats.sampled
        child = self._child
        pc = time.perf_counter
        trace = self.trace

        def timed(_unused: Any, packet: Packet) -> None:
            saved = child.acc
            child.acc = 0.0
            t = pc()
            try:
                fn(arg, packet)
            finally:
                dt = pc() - t
                own = dt - child.acc
                child.acc = saved + dt
                hist.add(own if own > 0 else 0.0)
                if trace is not None:
                    trace.complete(nid, t, dt, {"t0": packet.t0})

        return timed, None

    def _deliver(self, nid: str, port: str, timed: bool) -> Target:
        """The function that hands a packet arriving on (nid, port) to the node."""
        if nid in self._dead:
            return _discard, None
        node = self.nodes[nid]
        merge = self._merges.get(nid)
        if merge is None:
            target: Target = (node.process, port)
            if timed or nid in self._promoted:
                target = self._timed(nid, target, exact=nid in self._promoted)
            return target
        ports = merge.ports
        if timed or nid in self._promoted:
            exact = nid in self._promoted
            calls = [self._timed(nid, (node.process, p), exact=exact) for p in ports]
        else:
            calls = [(node.process, p) for p in ports]
        push, pop_ready = merge.push, merge.pop_ready

        def merged(index: int, packet: Packet) -> None:
            push(index, packet)
            while (ready := pop_ready()) is not None:
                fn, arg = calls[ready[0]]
                fn(arg, ready[1])

        return merged, ports.index(port)

    def _drain(self, nid: str) -> None:
        merge = self._merges.get(nid)
        if merge is None or nid in self._dead:
            return
        node = self.nodes[nid]
        while (ready := merge.pop_ready()) is not None:
            node.process(merge.ports[ready[0]], ready[1])

    def _fan(self, targets: list[Target]) -> Target:
        if not targets:
            return _discard, None
        if len(targets) == 1:
            return targets[0]
        return _fan_call, tuple(targets)

    def _watermark_fn(self, nid: str, port: str) -> Callable[[float], None]:
        edges = self.consumers(nid, port)
        if not edges:
            return lambda t: None

        def forward(t: float) -> None:
            for e in edges:
                self._on_watermark(e.dst, e.dst_port, t)

        return forward

    def _on_watermark(self, nid: str, port: str, t: float) -> None:
        if nid in self._dead:
            return
        merge = self._merges.get(nid)
        node = self.nodes[nid]
        if merge is not None:
            if not merge.watermark(merge.ports.index(port), t):
                return
            self._drain(nid)
            progress = merge.idle_progress()
            if progress is None:
                return
            t = progress
        for out, decl in node.outputs.items():
            if decl.lag is not None:
                node.advance(out, t - decl.lag)

    def _bind(self) -> None:
        """(Re)build every node's fast and timed dispatch tables."""
        self._fast: dict[str, dict[str, Target]] = {}
        self._timed_tables: dict[str, dict[str, Target]] = {}
        for nid, node in self.nodes.items():
            fast, timed = {}, {}
            for port in node.outputs:
                edges = self.consumers(nid, port)
                fast[port] = self._fan([self._deliver(e.dst, e.dst_port, False) for e in edges])
                timed[port] = self._fan([self._deliver(e.dst, e.dst_port, True) for e in edges])
                node._watermarks[port] = self._watermark_fn(nid, port)
            self._fast[nid] = fast
            self._timed_tables[nid] = timed
            node._outs = fast

    def _set_mode(self, timed: bool) -> None:
        tables = self._timed_tables if timed else self._fast
        for nid, node in self.nodes.items():
            node._outs = tables[nid]

    def _maybe_promote(self) -> None:
        changed = False
        for nid, stats in self.node_stats.items():
            h = stats.sampled
            if nid not in self._promoted and h.n >= 2 and h.total / h.n > self.promote_s:
                self._promoted.add(nid)
                changed = True
        if changed:
            self._bind()

    # -- the loop ----------------------------------------------------------------------------
    def _fail(self, exc: BaseException, fallback: Node | None) -> None:
        node, t = locate_failure(exc.__traceback__, self._by_id)
        node = node or fallback
        if node is None:
            raise exc
        self.record_failure(node.id, t, exc)
        self._dead.add(node.id)
        self._child.acc = 0.0
        self._bind()

    def _read(self, src: Source, timed: bool) -> bool:
        if not timed:
            return src.read()
        self._set_mode(True)
        child = self._child
        child.acc = 0.0
        w0 = src.waited_s
        t = time.perf_counter()
        try:
            return src.read()
        finally:
            dt = time.perf_counter() - t
            self._set_mode(False)
            own = dt - child.acc - (src.waited_s - w0)
            child.acc = 0.0
            self.node_stats[src.id].sampled.add(own if own > 0 else 0.0)
            if self.trace is not None:
                self.trace.complete(src.id, t, dt, {"t0": src.position})

    def _loop(self) -> None:
        active: list[Source] = [n for n in self.nodes.values() if isinstance(n, Source)]
        stop = self.context.stop
        reads = sampled = 0
        trace = self.trace is not None
        pc = time.perf_counter
        interval = self.sample_interval_s
        last_sample = float("-inf")
        while active and not stop.is_set():
            src = active[0] if len(active) == 1 else min(active, key=lambda s: s.position)
            reads += 1
            timed = trace or reads <= 2
            if not timed and reads & 15 == 0:
                now = pc()
                if now - last_sample >= interval:
                    timed, last_sample = True, now
            if timed:
                sampled += 1
            try:
                more = self._read(src, timed)
            except KeyboardInterrupt:
                # Without the CLI's signal handler Ctrl-C lands here: still flush the sinks.
                stop.set()
                break
            except Exception as exc:
                self._fail(exc, src)
                break
            if timed:
                self._maybe_promote()
            if not more:
                active.remove(src)
        self.metrics.sample_ratio = reads / sampled if sampled else 1.0

    def _end_of_stream(self) -> None:
        """Flush every node in topological order; a merged node drains before it flushes."""
        self._set_mode(False)
        for nid in self.graph.order:
            if nid in self._dead:
                continue
            node = self.nodes[nid]
            try:
                self._drain(nid)
                t = time.perf_counter()
                node.flush()
                self.node_stats[nid].exact.add(time.perf_counter() - t)
            except Exception as exc:
                self._fail(exc, node)
                continue
            for port in node.outputs:
                for e in self.consumers(nid, port):
                    merge = self._merges.get(e.dst)
                    if merge is not None:
                        merge.end(merge.ports.index(e.dst_port))
                        try:
                            self._drain(e.dst)
                        except Exception as exc:
                            self._fail(exc, self.nodes[e.dst])
