"""The multi-input delivery rule, shared by every executor.

A node with several ``ordered`` inputs receives their packets in media-time order: the head
packet with the smallest ``t0`` (ties: the input declared first) is delivered once every
other input has advanced past that time or ended. An input has advanced past ``t`` when its
queue holds a packet starting at or after ``t``, or when it is empty but a packet or a
watermark (``Node.advance``) already promised that nothing earlier will come. Because the
rule depends only on media times, results do not depend on which thread ran first.

``latest`` inputs keep only their newest packet and are delivered before anything else,
without waiting.
"""

from __future__ import annotations

from collections import deque
from typing import Sequence

from .metrics import EdgeStats
from .packet import Packet

NEG_INF = float("-inf")


class MergeQueues:
    """Per-input FIFO queues of one node and the ordered delivery rule (no locking).

    ``edges`` gives each input's edge statistics, or None for an (optional) input that
    nothing is connected to: such an input counts as ended from the start.
    """

    def __init__(self, ports: Sequence[str], policies: Sequence[str], edges: Sequence[EdgeStats | None]) -> None:
        self.ports = list(ports)
        self.queues: list[deque[Packet]] = [deque() for _ in ports]
        self.ended = [e is None for e in edges]
        self.progress = [NEG_INF] * len(ports)
        self.edge_stats = list(edges)
        self.ordered = [i for i, p in enumerate(policies) if p != "latest"]
        self.latest = [i for i, p in enumerate(policies) if p == "latest"]
        self.is_latest = [p == "latest" for p in policies]

    def push(self, i: int, packet: Packet) -> None:
        q = self.queues[i]
        if self.is_latest[i]:
            q.clear()
        q.append(packet)
        if packet.t0 > self.progress[i]:
            self.progress[i] = packet.t0
        stats = self.edge_stats[i]
        if stats is not None and len(q) > stats.max_depth:
            stats.max_depth = len(q)

    def watermark(self, i: int, t: float) -> bool:
        """Record a promise on input ``i``; True if it may unblock delivery."""
        if t > self.progress[i]:
            self.progress[i] = t
            return True
        return False

    def end(self, i: int) -> None:
        self.ended[i] = True

    def pop_ready(self) -> tuple[int, Packet] | None:
        """The next packet that may be delivered under the ordering rule, or None."""
        queues = self.queues
        for i in self.latest:
            if queues[i]:
                return i, queues[i].popleft()
        best = -1
        best_t = 0.0
        for i in self.ordered:
            q = queues[i]
            if q:
                t = q[0].t0
                if best < 0 or t < best_t:
                    best, best_t = i, t
        if best < 0:
            return None
        for j in self.ordered:
            if j != best and not queues[j] and not self.ended[j]:
                p = self.progress[j]
                if p < best_t or (p == best_t and j < best):
                    return None
        return best, queues[best].popleft()

    def ready(self) -> bool:
        """True when ``pop_ready`` would return a packet (without removing it)."""
        ready = self.pop_ready()
        if ready is None:
            return False
        self.queues[ready[0]].appendleft(ready[1])
        return True

    def idle_progress(self) -> float | None:
        """With every queue empty, the media time all ordered inputs have reached; else None.

        A node whose outputs declare a ``lag`` may forward this as its own watermark.
        """
        if any(self.queues):
            return None
        inf = float("inf")
        return min((inf if self.ended[j] else self.progress[j] for j in self.ordered), default=inf)

    def drained(self) -> bool:
        """True when every input has ended and nothing is left to deliver."""
        return all(self.ended) and not any(self.queues)

    def blocking_input(self) -> int | None:
        """The input that delivery is waiting for (for deadlock and overflow messages)."""
        for j in self.ordered:
            if not self.queues[j] and not self.ended[j]:
                return j
        return None
