"""The unit that flows along an edge: a payload stamped with the media time it covers."""

from __future__ import annotations

from typing import Any


class Packet:
    """A payload covering media time ``[t0, t1]`` seconds.

    Kept to three slots because the engine's per-hop cost is dominated by object handling:
    anything else a stream needs (sample offsets, rates, segment ids) lives in the payload.
    On one stream ``t0`` never decreases; the executors rely on that to merge inputs.
    """

    __slots__ = ("t0", "t1", "payload")

    def __init__(self, t0: float, t1: float, payload: Any) -> None:
        self.t0 = t0
        self.t1 = t1
        self.payload = payload

    def __repr__(self) -> str:
        return f"Packet({self.t0:.3f}-{self.t1:.3f}, {type(self.payload).__name__})"
