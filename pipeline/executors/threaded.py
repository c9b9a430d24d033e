"""The threaded executor: one worker thread per node, bounded queues between them.

For live input and for heavy models that release the GIL (CTranslate2, onnxruntime, torch):
a slow recogniser no longer holds up capture and direction finding. Each node's inputs are
bounded queues (``capacity`` packets or ``capacity_s`` media seconds per edge) merged by the
same media-time rule as the inline executor, so both give the same results when nothing is
dropped.

When a queue is full the producer waits (backpressure), except that

* in a live run an edge may declare ``drop_oldest`` or ``drop_newest``: the packet is
  dropped and counted instead, so capture never stalls;
* when the consumer cannot deliver anything because it is waiting for *another* input
  (a join whose other branch is behind), waiting would deadlock, so the queue grows past
  its capacity; this is counted as an overflow. The growth is bounded by how far the
  branches drift apart in media time, not by the length of the input.
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Callable

from ..graph import EdgeSpec
from ..merge import MergeQueues
from ..metrics import EdgeStats, NodeStats
from ..node import Node, Source, Target
from ..packet import Packet
from .base import Executor

_BATCH = 32


#: How long a producer waits on a full queue whose consumer has nothing deliverable before it
#: lets the queue overflow (a watermark crossing other threads usually arrives well within it).
_GRACE_S = 0.05


class Inbox:
    """The bounded, merged input queues of one node, shared with its producers' threads."""

    def __init__(self, node: Node, edges: dict[str, EdgeSpec], stats: dict[str, EdgeStats], live: bool) -> None:
        ports = list(node.inputs)
        policies = [d.policy for d in node.inputs.values()]
        self.mq = MergeQueues(ports, policies, [stats.get(edges[p].label) if p in edges else None for p in ports])
        self.capacity = [edges[p].capacity if p in edges else 1 for p in ports]
        self.capacity_s = [edges[p].capacity_s if p in edges else None for p in ports]
        self.policy = [(edges[p].policy if live else "block") if p in edges else "block" for p in ports]
        self.stats = self.mq.edge_stats
        self.cond = threading.Condition()
        self.consumer_waiting = False
        self.producers_waiting = 0
        self.dead = False
        #: A node whose outputs declare a ``lag`` forwards its input progress as a watermark;
        #: for it, progress alone (upstream watermarks, no packets) must wake the loop too,
        #: or a quiet branch (an array branch standing aside) would stall every join below it.
        self.wants_progress = any(d.lag is not None for d in node.outputs.values())
        self._reported = float("-inf")
        self._no_grace_until = 0.0

    def _full(self, i: int) -> bool:
        q = self.mq.queues[i]
        if len(q) >= self.capacity[i]:
            return True
        cap_s = self.capacity_s[i]
        return cap_s is not None and bool(q) and q[-1].t1 - q[0].t0 >= cap_s

    def put(self, i: int, producer: NodeStats, packet: Packet) -> None:
        with self.cond:
            if self.dead:
                return
            mq = self.mq
            if not mq.is_latest[i] and self._full(i):
                policy = self.policy[i]
                stats = self.stats[i]
                if policy == "drop_newest":
                    if stats is not None:
                        stats.drops += 1
                    return
                if policy == "drop_oldest":
                    mq.queues[i].popleft()
                    if stats is not None:
                        stats.drops += 1
                else:
                    t = time.perf_counter()
                    # Nothing deliverable yet may only mean that another input's watermark is
                    # on its way through other threads: wait a little for it (not at all again
                    # for a second after an overflow, so a join that is truly stuck costs little).
                    grace = _GRACE_S if t >= self._no_grace_until else 0.0
                    while self._full(i) and not self.dead:
                        waited = time.perf_counter() - t
                        if not mq.ready() and waited >= grace:
                            break
                        self.producers_waiting += 1
                        self.cond.wait(0.5 if mq.ready() else grace - waited)
                        self.producers_waiting -= 1
                    producer.blocked_s += time.perf_counter() - t
                    if self.dead:
                        return
                    if self._full(i):
                        self._no_grace_until = time.perf_counter() + 1.0
                        if stats is not None:
                            stats.overflows += 1
            mq.push(i, packet)
            if self.consumer_waiting:
                self.cond.notify_all()

    def advance(self, i: int, t: float) -> None:
        with self.cond:
            if self.mq.watermark(i, t) and self.consumer_waiting:
                self.cond.notify_all()

    def end(self, i: int) -> None:
        with self.cond:
            self.mq.end(i)
            self.cond.notify_all()

    def kill(self) -> None:
        """The consumer failed: accept and discard everything, release blocked producers."""
        with self.cond:
            self.dead = True
            for q in self.mq.queues:
                q.clear()
            self.cond.notify_all()

    def get(self) -> list[tuple[int, Packet]] | None:
        """Up to a batch of deliverable packets, waiting if none; None at end of stream.

        An empty batch means only the input progress moved on (see ``wants_progress``).
        """
        with self.cond:
            mq = self.mq
            while True:
                batch: list[tuple[int, Packet]] = []
                while len(batch) < _BATCH and (ready := mq.pop_ready()) is not None:
                    batch.append(ready)
                if batch:
                    if self.producers_waiting:
                        self.cond.notify_all()
                    return batch
                if mq.drained() or self.dead:
                    return None
                if self.wants_progress:
                    progress = mq.idle_progress()
                    if progress is not None and progress > self._reported and progress != float("inf"):
                        self._reported = progress
                        return batch  # empty: the caller forwards the progress as its watermark
                if self.producers_waiting:
                    # Producers may wait on a full queue that we cannot drain: let them overflow.
                    self.cond.notify_all()
                self.consumer_waiting = True
                self.cond.wait()
                self.consumer_waiting = False

    def idle_progress(self) -> float | None:
        with self.cond:
            return self.mq.idle_progress()


class ThreadedExecutor(Executor):
    name = "threaded"

    def _execute(self) -> None:
        live = self.context.live
        self.inboxes: dict[str, Inbox] = {}
        for nid, node in self.nodes.items():
            if isinstance(node, Source):
                continue
            edges = {e.dst_port: e for e in self.graph.in_edges(nid)}
            self.inboxes[nid] = Inbox(node, edges, self.edge_stats, live)
        for nid, node in self.nodes.items():
            stats = self.node_stats[nid]
            for port in node.outputs:
                targets: list[Target] = []
                marks: list[Callable[[float], None]] = []
                for e in self.consumers(nid, port):
                    inbox = self.inboxes[e.dst]
                    i = self.input_index(e)
                    targets.append((functools.partial(inbox.put, i), stats))
                    marks.append(functools.partial(inbox.advance, i))
                node._outs[port] = targets[0] if len(targets) == 1 else (_fan_targets, tuple(targets))
                node._watermarks[port] = _fan(marks)

        threads = []
        for nid in self.graph.order:
            node = self.nodes[nid]
            target = self._source_loop if isinstance(node, Source) else self._node_loop
            threads.append(threading.Thread(target=target, args=(node,), name=f"meetflow:{nid}", daemon=True))
        for t in threads:
            t.start()
        try:
            for t in threads:
                while t.is_alive():
                    t.join(0.2)
        except KeyboardInterrupt:
            if self.context.stop.is_set():
                # A second interrupt (the CLI's handler turned the first into a stop):
                # abort now rather than wait for a backlog to drain. Finals already
                # written are on disk; the worker threads are daemons.
                raise
            # Without the CLI's signal handler Ctrl-C lands here: stop and let sinks flush.
            self.context.stop.set()
            for t in threads:
                t.join()

    def queue_depths(self) -> dict[str, tuple[int, float]]:
        """Each edge's current queue: (packets, media seconds), for live views.

        Read without locking from another thread: a snapshot good enough to display.
        """
        out: dict[str, tuple[int, float]] = {}
        for nid, inbox in getattr(self, "inboxes", {}).items():
            for e in self.graph.in_edges(nid):
                q = inbox.mq.queues[self.input_index(e)]
                try:
                    span = q[-1].t1 - q[0].t0 if q else 0.0
                except IndexError:  # emptied while we looked
                    span = 0.0
                out[e.label] = (len(q), span)
        return out

    def _end_outputs(self, node: Node) -> None:
        for port in node.outputs:
            for e in self.consumers(node.id, port):
                self.inboxes[e.dst].end(self.input_index(e))

    def _source_loop(self, src: Source) -> None:
        stats = self.node_stats[src.id]
        stop = self.context.stop
        pc = time.perf_counter
        trace = self.trace
        try:
            while not stop.is_set():
                b0, w0 = stats.blocked_s, src.waited_s
                t = pc()
                more = src.read()
                dt = pc() - t
                stats.exact.add(max(dt - (stats.blocked_s - b0) - (src.waited_s - w0), 0.0))
                if trace is not None:
                    trace.complete(src.id, t, dt, {"t0": src.position})
                if not more:
                    break
            src.flush()
        except Exception as exc:
            self.record_failure(src.id, src.position, exc)
        finally:
            self._end_outputs(src)

    def _node_loop(self, node: Node) -> None:
        inbox = self.inboxes[node.id]
        stats = self.node_stats[node.id]
        ports = inbox.mq.ports
        process = node.process
        pc = time.perf_counter
        trace = self.trace
        lagged = [(p, d.lag) for p, d in node.outputs.items() if d.lag is not None]
        forwarded = float("-inf")
        packet: Packet | None = None
        try:
            while (batch := inbox.get()) is not None:
                for i, packet in batch:
                    b0 = stats.blocked_s
                    t = pc()
                    process(ports[i], packet)
                    dt = pc() - t
                    stats.exact.add(max(dt - (stats.blocked_s - b0), 0.0))
                    if trace is not None:
                        trace.complete(node.id, t, dt, {"t0": packet.t0})
                if lagged:
                    progress = inbox.idle_progress()
                    if progress is not None and progress > forwarded and progress != float("inf"):
                        forwarded = progress
                        for port, lag in lagged:
                            node.advance(port, progress - lag)
            packet = None
            t = pc()
            node.flush()
            stats.exact.add(pc() - t)
        except Exception as exc:
            self.record_failure(node.id, packet.t0 if packet is not None else None, exc)
            inbox.kill()
        finally:
            self._end_outputs(node)


def _fan_targets(targets: tuple[Target, ...], packet: Packet) -> None:
    for fn, arg in targets:
        fn(arg, packet)


def _fan(targets: list[Callable]) -> Callable:
    if not targets:
        return lambda _x: None
    if len(targets) == 1:
        return targets[0]
    ts = tuple(targets)

    def fan(x: object) -> None:
        for t in ts:
            t(x)

    return fan
