"""What a running graph shares with its nodes: output folder, pacing, stop flag, clocks."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .mediatime import IngestClock
from .metrics import LatencyStats


class TranscriptView(Protocol):
    """A live display that console sinks publish to (the CLI's terminal view, a web page)."""

    def update(self, update: Any) -> None: ...


@dataclass
class RunContext:
    """Shared, read-mostly state of one run.

    ``realtime`` asks file sources to pace themselves to the wall clock (as if live);
    ``live`` is set by the executor when any source is a live device. Nodes read these to
    choose latency-friendly behaviour, never to change *what* they compute from their input.
    """

    out_dir: Path | None = None
    realtime: bool = False
    quiet: bool = False
    live: bool = False
    clock: IngestClock = field(default_factory=IngestClock)
    stop: threading.Event = field(default_factory=threading.Event)
    views: list[TranscriptView] = field(default_factory=list)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("meetflow"))
    summary: dict[str, Any] = field(default_factory=dict)
    latency: LatencyStats = field(default_factory=LatencyStats)
    #: Extra sections of ``metrics.json`` that nodes keep current while they run, by
    #: section then node id (``report["capture"]["source"] = {...}``); live views read it.
    report: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Name of the executor running the graph ("inline", "threaded"), set by it. With
    #: "threaded" every node has its own thread and its outputs are thread-safe queues, so
    #: a node may also emit from a worker thread of its own (serialised by the node).
    executor: str = ""

    def pace(self, t: float) -> bool:
        """In real-time mode, wait until media time ``t`` is due on the wall clock.

        Returns False when the run was asked to stop while waiting. Sources call this with
        the end time of a block before emitting it: a real device would deliver the block
        only once its last sample was captured.
        """
        if not self.realtime:
            return not self.stop.is_set()
        delay = self.clock.start_wall + t - time.time()
        if delay > 0:
            return not self.stop.wait(delay)
        return not self.stop.is_set()

    def output_path(self, name: str) -> Path:
        """A file inside the run's output folder (created on demand)."""
        base = self.out_dir if self.out_dir is not None else Path(".")
        base.mkdir(parents=True, exist_ok=True)
        return base / name

    def views_print_finals(self) -> bool:
        """True when an attached view prints final segments itself (a terminal view)."""
        return any(getattr(v, "prints_finals", False) for v in self.views)

    def publish(self, update: Any) -> None:
        """Hand a transcript update to every live view attached to the run."""
        for view in self.views:
            view.update(update)
