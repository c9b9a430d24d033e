"""Slow a stream down on purpose: overload tests of a graph without a bigger model."""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict, Field

from pipeline import In, Node, Out, Packet


class DelayParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rtf: float = Field(1.0, ge=0, description="Wall seconds spent per media second of each packet (1.5: this stage runs at 1.5x real time).")
    per_packet_ms: float = Field(0.0, ge=0, description="Extra wall time spent on every packet, in milliseconds.")


class Delay(Node):
    """Forward every packet after spending time on it, like a stage slower than real time.

    Put in front of a recogniser, ``rtf: 1.5`` makes recognition 1.5x slower than real
    time without changing what it recognises: the way to check that a graph's overload
    policies keep a live run within its latency budget (``tools/bench_overload.py``).
    The time is slept (the GIL is released), as a model running in native code would.
    A packet's media length is its audio's (``samples``/``rate``) when it carries audio,
    else ``t1 - t0``.
    """

    type_name = "util.delay"
    Params = DelayParams
    inputs = {"in": In(object, "Any packets.")}
    outputs = {"out": Out(object, "The same packets, later.", lag=0.0)}

    params: DelayParams

    def process(self, port: str, packet: Packet) -> None:
        payload = packet.payload
        samples = getattr(payload, "samples", None)
        rate = getattr(payload, "rate", None)
        seconds = len(samples) / rate if samples is not None and rate else packet.t1 - packet.t0
        wait = self.params.rtf * seconds + self.params.per_packet_ms / 1000.0
        if wait > 0:
            time.sleep(wait)
        self.emit("out", packet)
