"""Slow the speech stream down on purpose: overload tests of a graph without a bigger model."""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict, Field

from pipeline import In, Node, Out, Packet, SpeechAudio


class DelayParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rtf: float = Field(1.0, ge=0, description="Wall seconds spent per media second of each packet (1.5: this stage runs at 1.5x real time).")
    per_packet_ms: float = Field(0.0, ge=0, description="Extra wall time spent on every packet, in milliseconds.")


class SpeechDelay(Node):
    """Forward speech after spending time on it, like a recogniser slower than real time.

    Put in front of a recogniser, ``rtf: 1.5`` makes recognition 1.5x slower than real
    time without changing what it recognises: the way to check that a graph's overload
    policies keep a live run within its latency budget (``tools/bench_overload.py``).
    The time is slept (the GIL is released), as a model running in native code would.
    """

    type_name = "speech.delay"
    Params = DelayParams
    inputs = {"speech": In(SpeechAudio, "Speech segments.")}
    outputs = {"speech": Out(SpeechAudio, "The same segments, later.", lag=0.0)}

    params: DelayParams

    def process(self, port: str, packet: Packet) -> None:
        chunk: SpeechAudio = packet.payload
        wait = self.params.rtf * len(chunk.samples) / chunk.rate + self.params.per_packet_ms / 1000.0
        if wait > 0:
            time.sleep(wait)
        self.emit("speech", packet)
