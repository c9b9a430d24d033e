"""Feeding a ``speaker.diarizer`` node a synthetic stream, as the engine would, and keeping what it sends."""

from __future__ import annotations

from typing import Any


def feed_diarizer(stream: list[tuple[float, str, Any]], location: bool = True, **params: Any) -> tuple[Any, list[Any]]:
    """A speaker.diarizer over ``stream`` ((time, "directions", (t0, DirectionEstimate)) or (time,
    "embeddings", Embedding), in arrival order); directions only when ``location``. The node and
    every turn it sent, in order."""
    from nodes.speaker.diarizer import Diarizer, DiarizerParams
    from pipeline import Packet, RunContext, StreamInfo

    node = Diarizer("dz", DiarizerParams(**params), RunContext())
    node.configure({"embeddings": StreamInfo(), **({"directions": StreamInfo()} if location else {})})
    node.open()
    sent: list[Any] = []
    node.emit = lambda port, p: sent.append(p.payload)  # type: ignore[method-assign]
    for _, port, x in stream:
        if port == "directions":
            if location:
                t, est = x
                node.process("directions", Packet(t, t + 0.16, est))
        else:
            node.process("embeddings", Packet(x.new_from, x.end, x))
    node.flush()
    return node, sent
