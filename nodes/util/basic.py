"""General-purpose nodes for composing, debugging and benchmarking graphs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pipeline import In, Node, Out, Packet, Source, media_time


class PassThrough(Node):
    """Forward every packet unchanged (a placeholder, or a probe point for metrics)."""

    type_name = "util.passthrough"
    inputs = {"in": In(object, "Any packets.")}
    outputs = {"out": Out(object, "The same packets.", lag=0.0)}

    def process(self, port: str, packet: Packet) -> None:
        self.emit("out", packet)


class NullSink(Node):
    """Consume and discard packets (terminates a branch whose output is not needed)."""

    type_name = "util.null_sink"
    inputs = {"in": In(object, "Any packets.")}

    def process(self, port: str, packet: Packet) -> None:
        pass


class TickerParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(100, ge=0, description="Number of packets to emit.")
    rate: int = Field(50, ge=1, description="Packets per second of media time.")


class Ticker(Source):
    """Emit ``count`` packets of ``1/rate`` seconds each; the payload is the packet index."""

    type_name = "util.ticker"
    Params = TickerParams
    outputs = {"out": Out(int, "Consecutive integers.")}

    params: TickerParams

    def open(self) -> None:
        self._i = 0
        self.duration = self.params.count / self.params.rate

    def read(self) -> bool:
        i = self._i
        if i >= self.params.count:
            return False
        rate = self.params.rate
        t1 = media_time(i + 1, rate)
        if not self.context.pace(t1):
            return False
        self._i = i + 1
        self.position = t1
        self.emit("out", Packet(media_time(i, rate), t1, i))
        return self._i < self.params.count
