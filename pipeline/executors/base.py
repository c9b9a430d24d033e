"""What every executor shares: building nodes, negotiating formats, the life cycle, failures.

An executor owns one run of one graph. The sequence is fixed:

1. build: instantiate every node with its validated parameters;
2. configure: in topological order, hand each node its inputs' ``StreamInfo`` and collect its
   outputs' (this is where a recording that does not fit the graph is rejected);
3. open: load models;
4. run: the executor-specific part, until every source ends or the run is stopped;
5. end of stream: every node flushes, in topological order, so sinks write what they hold;
6. close: always, even after a failure.

A node that fails stops the run: sources stop, the failed node is cut out, the rest flush,
and ``NodeError`` names the node and the media time of the packet it was processing.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from types import TracebackType
from typing import Mapping

from ..context import RunContext
from ..errors import ConfigError, GraphError, MeetflowError, NodeError, Problem, UsageError
from ..variables import blame, given_for
from ..graph import EdgeSpec, Graph
from ..memory import MemoryKeeper
from ..metrics import EdgeStats, NodeStats, RunMetrics
from ..node import Node, Source
from ..packet import Packet
from ..ports import StreamInfo
from ..trace import TraceWriter


@dataclass
class Failure:
    node_id: str
    media_time: float | None
    error: BaseException
    traceback: str


def locate_failure(tb: TracebackType | None, nodes: Mapping[int, Node]) -> tuple[Node | None, float | None]:
    """Find which node raised, and the media time of the packet it held, from a traceback.

    The inline executor calls nodes directly (no wrapper per hop), so the failing node is
    recovered after the fact: the innermost frame whose ``self`` is one of the run's nodes.
    """
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    culprit: Node | None = None
    for frame in reversed(frames):
        obj = frame.f_locals.get("self")
        if obj is not None and id(obj) in nodes and nodes[id(obj)] is obj:
            culprit = obj
            break
    if culprit is None:
        return None, None
    for frame in reversed(frames):
        if frame.f_locals.get("self") is culprit:
            pkt = frame.f_locals.get("packet")
            if isinstance(pkt, Packet):
                return culprit, pkt.t0
    if isinstance(culprit, Source):
        return culprit, culprit.position
    return culprit, None


class Executor:
    """Base class; subclasses implement ``_execute``."""

    name = "base"
    #: Wall seconds between heap trims during a run (``pipeline/memory.py``); 0 turns them off.
    trim_interval_s = 2.0

    def __init__(self, graph: Graph, context: RunContext, trace: TraceWriter | None = None) -> None:
        self.graph = graph
        self.context = context
        self.trace = trace
        self.nodes: dict[str, Node] = {}
        self.formats: dict[tuple[str, str], StreamInfo] = {}
        self.failure: Failure | None = None
        self.node_stats = {nid: NodeStats(nid, spec.type_name) for nid, spec in graph.nodes.items()}
        self.edge_stats = {e.label: EdgeStats(e.label, e.capacity, e.policy) for e in graph.edges}
        self.metrics = RunMetrics(self.name, self.node_stats, self.edge_stats, latency=context.latency, realtime=context.realtime, report=context.report)
        self._opened: list[Node] = []

    # -- set-up --------------------------------------------------------------------------
    def _config_error(self, nid: str, exc: ConfigError) -> MeetflowError:
        spec = self.graph.nodes[nid]
        pointer = spec.pointer + (f"/params/{exc.param}" if exc.param else "")
        name = given_for(self.graph.given_at, pointer) if exc.param else None
        if name is not None and name in self.graph.variables:  # the command line's value, not the graph file's
            return UsageError(blame(name, self.graph.variables[name], f"{nid} ({spec.type_name}): {exc}", pointer))
        where = str(self.graph.path) if self.graph.path else None
        return GraphError([Problem(pointer, f"{nid} ({spec.type_name}): {exc}")], where)

    def build(self) -> None:
        for nid in self.graph.order:
            spec = self.graph.nodes[nid]
            try:
                node = self.nodes[nid] = spec.cls(nid, spec.params, self.context)
                node.wired = frozenset(port for port in node.outputs if self.consumers(nid, port))
            except MeetflowError:
                raise
            except Exception as exc:
                raise NodeError(nid, None, exc) from exc
        self.context.executor = self.name
        self.context.live = any(isinstance(n, Source) and n.live for n in self.nodes.values())

    def configure(self) -> None:
        for nid in self.graph.order:
            node = self.nodes[nid]
            inputs = {e.dst_port: self.formats.get((e.src, e.src_port), StreamInfo()) for e in self.graph.in_edges(nid)}
            try:
                outs = node.configure(inputs)
            except ConfigError as exc:
                raise self._config_error(nid, exc) from None
            except MeetflowError:
                raise
            except Exception as exc:
                raise NodeError(nid, None, exc) from exc
            for port in node.outputs:
                self.formats[(nid, port)] = outs.get(port, StreamInfo()) if outs else StreamInfo()

    def open(self) -> None:
        for nid in self.graph.order:
            node = self.nodes[nid]
            try:
                node.open()
            except ConfigError as exc:
                raise self._config_error(nid, exc) from None
            except MeetflowError:
                raise
            except Exception as exc:
                raise NodeError(nid, None, exc) from exc
            finally:
                self._opened.append(node)

    def close(self) -> None:
        for node in reversed(self._opened):
            try:
                node.close()
            except Exception as exc:  # closing must not hide the run's own outcome
                self.context.log.warning("closing node '%s' failed: %s", node.id, exc)
        self._opened.clear()

    # -- running ---------------------------------------------------------------------------
    def run(self) -> RunMetrics:
        """Run the graph to the end of its input (or until stopped); return its metrics.

        Raises ``NodeError`` after the sinks have flushed when a node failed.
        """
        self.build()
        self.configure()
        start = time.perf_counter()
        keeper = MemoryKeeper(self.trim_interval_s)
        try:
            keeper.start()  # before the nodes open: the allocator settings apply to what they load and the threads they start
            self.open()
            self.context.clock.start()
            self._execute()
        finally:
            keeper.stop()
            self.context.report["memory"] = keeper.to_json()
            self.close()
            self.metrics.wall_s = time.perf_counter() - start
            self.metrics.media_s = max((n.position for n in self.nodes.values() if isinstance(n, Source)), default=0.0)
            self.metrics.interrupted = self.context.stop.is_set() and self.failure is None
            if self.trace is not None:
                self.trace.close()
        if self.failure is not None:
            f = self.failure
            self.metrics.failed = f.node_id
            self.node_stats[f.node_id].error = f"{type(f.error).__name__}: {f.error}"
            raise NodeError(f.node_id, f.media_time, f.error) from f.error
        return self.metrics

    def _execute(self) -> None:
        raise NotImplementedError

    def record_failure(self, node_id: str, media_time: float | None, exc: BaseException) -> bool:
        """Remember the first failure and ask the sources to stop. True if it was the first."""
        first = self.failure is None
        if first:
            self.failure = Failure(node_id, media_time, exc, "".join(traceback.format_exception(exc)))
        else:
            self.context.log.warning("node '%s' also failed: %s", node_id, exc)
        self.context.stop.set()
        return first

    # -- helpers for subclasses ---------------------------------------------------------------
    def consumers(self, node_id: str, port: str) -> list[EdgeSpec]:
        return self.graph.out_edges(node_id, port)

    def input_index(self, edge: EdgeSpec) -> int:
        """Position of an edge's input port among its consumer's declared inputs."""
        return list(self.nodes[edge.dst].inputs).index(edge.dst_port)
