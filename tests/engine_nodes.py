"""Small node types for testing the engine's semantics (registered as ``test.*``).

Results land in ``COLLECTED[key]`` because executors instantiate nodes themselves.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline import In, Node, Out, Packet, Source, media_time

COLLECTED: dict[str, list[Any]] = defaultdict(list)
FLUSHED: dict[str, bool] = {}
_lock = threading.Lock()


def reset() -> None:
    COLLECTED.clear()
    FLUSHED.clear()


class _P(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CountParams(_P):
    count: int = 100
    rate: int = 100
    payload_kb: int = 0
    sleep_ms: float = 0.0


class CountSource(Source):
    """Emits ``count`` packets of 1/rate s; payload = index (or an array of payload_kb KB)."""

    type_name = "test.count"
    Params = CountParams
    outputs = {"out": Out(object)}

    def open(self) -> None:
        self.i = 0

    def read(self) -> bool:
        p = self.params
        if self.i >= p.count:
            return False
        i = self.i
        self.i += 1
        payload: Any = i if not p.payload_kb else np.full(p.payload_kb * 128, i, dtype=np.float64)
        if p.sleep_ms:
            time.sleep(p.sleep_ms / 1000)
        self.position = media_time(i + 1, p.rate)
        self.emit("out", Packet(media_time(i, p.rate), media_time(i + 1, p.rate), payload))
        return self.i < p.count


class LiveCountSource(CountSource):
    """The same, claiming to be a live device (so overload policies apply)."""

    type_name = "test.live_count"
    live: ClassVar[bool] = True


class ScaleParams(_P):
    factor: float = 2.0


class Scale(Node):
    type_name = "test.scale"
    Params = ScaleParams
    inputs = {"in": In(object)}
    outputs = {"out": Out(object, lag=0.0)}

    def process(self, port: str, packet: Packet) -> None:
        self.emit("out", Packet(packet.t0, packet.t1, packet.payload * self.params.factor))


class SparseParams(_P):
    every: int = 5
    watermark: bool = False


class Sparse(Node):
    """Emits one packet per ``every`` inputs, stamped with the first of them (a lagging branch)."""

    type_name = "test.sparse"
    Params = SparseParams
    inputs = {"in": In(object)}
    outputs = {"out": Out(object)}

    def open(self) -> None:
        self.held: list[Packet] = []

    def process(self, port: str, packet: Packet) -> None:
        self.held.append(packet)
        if len(self.held) >= self.params.every:
            first = self.held[0]
            self.emit("out", Packet(first.t0, packet.t1, ("sum", sum(p.payload for p in self.held))))
            self.held = []
        if self.params.watermark and not self.held:
            self.advance("out", packet.t1)

    def flush(self) -> None:
        if self.held:
            self.emit("out", Packet(self.held[0].t0, self.held[-1].t1, ("sum", sum(p.payload for p in self.held))))
            self.held = []


class BurstParams(_P):
    n: int = 3


class Burst(Node):
    type_name = "test.burst"
    Params = BurstParams
    inputs = {"in": In(object)}
    outputs = {"out": Out(object)}

    def process(self, port: str, packet: Packet) -> None:
        for k in range(self.params.n):
            self.emit("out", Packet(packet.t0, packet.t1, (packet.payload, k)))


class Join3(Node):
    """Three ordered inputs; emits (port, t0, payload) in the order it receives them."""

    type_name = "test.join3"
    inputs = {"a": In(object), "b": In(object), "c": In(object, required=False)}
    outputs = {"out": Out(object)}

    def process(self, port: str, packet: Packet) -> None:
        self.emit("out", Packet(packet.t0, packet.t1, (port, round(packet.t0, 6), packet.payload)))


class LatestJoin(Node):
    """An ordered main input plus a 'latest' context input."""

    type_name = "test.latest_join"
    inputs = {"main": In(object), "ctx": In(object, policy="latest")}
    outputs = {"out": Out(object)}

    def open(self) -> None:
        self.ctx: Any = None

    def process(self, port: str, packet: Packet) -> None:
        if port == "ctx":
            self.ctx = packet.payload
        else:
            self.emit("out", Packet(packet.t0, packet.t1, (packet.payload, self.ctx)))


class CollectParams(_P):
    key: str = "out"
    sleep_ms: float = Field(0.0, ge=0)
    raw: bool = Field(False, description="Keep the packets themselves instead of (t0, payload summary).")


class Collect(Node):
    type_name = "test.collect"
    Params = CollectParams
    inputs = {"in": In(object)}

    def process(self, port: str, packet: Packet) -> None:
        if self.params.sleep_ms:
            time.sleep(self.params.sleep_ms / 1000)
        if self.params.raw:
            with _lock:
                COLLECTED[self.params.key].append(packet)
            return
        payload = packet.payload
        if isinstance(payload, np.ndarray):
            payload = float(payload[0])
        with _lock:
            COLLECTED[self.params.key].append((round(packet.t0, 6), payload))

    def flush(self) -> None:
        FLUSHED[self.params.key] = True


class FailParams(_P):
    at: int = 10
    where: str = "process"


class Fail(Node):
    """Raises on its ``at``-th packet (or in flush/open)."""

    type_name = "test.fail"
    Params = FailParams
    inputs = {"in": In(object)}
    outputs = {"out": Out(object)}

    def open(self) -> None:
        if self.params.where == "open":
            raise RuntimeError("cannot open")
        self.n = 0

    def process(self, port: str, packet: Packet) -> None:
        self.n += 1
        if self.params.where == "process" and self.n == self.params.at:
            raise ValueError(f"bad packet {packet.payload}")
        self.emit("out", packet)

    def flush(self) -> None:
        if self.params.where == "flush":
            raise RuntimeError("flush failed")


class Typed(Node):
    """Accepts only ints (for type-mismatch tests)."""

    type_name = "test.int_sink"
    inputs = {"in": In(int)}

    def process(self, port: str, packet: Packet) -> None:
        pass


class FilterParams(_P):
    every: int = 10
    watermark: bool = False


class Filter(Node):
    """Passes one packet in ``every`` (like a VAD in silence); may promise progress on the others."""

    type_name = "test.filter"
    Params = FilterParams
    inputs = {"in": In(object)}
    outputs = {"out": Out(object)}

    def process(self, port: str, packet: Packet) -> None:
        if packet.payload % self.params.every == 0:
            self.emit("out", packet)
        elif self.params.watermark:
            self.advance("out", packet.t1)
