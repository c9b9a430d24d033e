"""Typed port declarations and the stream formats negotiated over them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

InputPolicy = Literal["ordered", "latest"]
OverloadPolicy = Literal["block", "drop_oldest", "drop_newest"]


@dataclass(frozen=True)
class In:
    """An input port.

    ``policy="ordered"`` (the default) delivers packets of all ordered inputs of a node in
    media-time order, which makes results independent of threading. ``policy="latest"``
    suits slowly changing context (current tracks, a language hint): packets are delivered
    as they arrive, never wait for other inputs and only the newest is kept, at the price
    of results that may depend on timing in threaded runs.
    """

    type: type
    doc: str = ""
    policy: InputPolicy = "ordered"
    required: bool = True


@dataclass(frozen=True)
class Out:
    """An output port.

    ``lag``, when set, promises that packets on this port never start more than ``lag``
    seconds before the input being processed; the engine then forwards input watermarks
    (promises that a stream has advanced) through this node, so that a downstream join does
    not wait for a quiet branch.
    """

    type: type
    doc: str = ""
    lag: float | None = None


@dataclass(frozen=True)
class StreamInfo:
    """What is known before the first packet about the stream on a port.

    Sources fill it from the recording's header or the device; nodes derive their outputs'
    info from their inputs' (``Node.configure``), so that mismatches such as a 1-channel
    recording fed to a 7-microphone array are reported before any audio is processed.
    """

    rate: int | None = None
    channels: int | None = None
    duration_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def with_(self, **changes: Any) -> "StreamInfo":
        data: dict[str, Any] = {"rate": self.rate, "channels": self.channels, "duration_s": self.duration_s, "extra": dict(self.extra)}
        data.update(changes)
        return StreamInfo(**data)


def type_label(tp: type) -> str:
    """Human name of a payload type, as shown in errors and ``meetflow nodes``."""
    return "any" if tp is object else tp.__name__


def compatible(produced: type, accepted: type) -> bool:
    """True when a producer's payload type may feed a consumer's port."""
    return accepted is object or issubclass(produced, accepted)
