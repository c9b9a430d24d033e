"""Chrome/Perfetto trace output (``--trace FILE``).

Events are written as they happen in the JSON array format, which trace viewers accept even
without the closing bracket, so a trace of a run that died is still readable and memory
stays flat however long the run. Open the file in https://ui.perfetto.dev or
chrome://tracing.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import IO, Any


class TraceWriter:
    """Appends complete ("X") events, one per node call, with thread ids and media times."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f: IO[str] = open(self.path, "w", encoding="utf-8")
        self._f.write("[\n")
        self._lock = threading.Lock()
        self._t0 = time.perf_counter()
        self._pid = os.getpid()
        self._named: set[int] = set()

    def now_us(self) -> float:
        return (time.perf_counter() - self._t0) * 1e6

    def complete(self, name: str, start_s: float, dur_s: float, args: dict[str, Any] | None = None, cat: str = "node") -> None:
        """Record a span; ``start_s`` is a ``time.perf_counter()`` reading."""
        tid = threading.get_ident()
        ev: dict[str, Any] = {
            "name": name,
            "cat": cat,
            "ph": "X",
            "ts": round((start_s - self._t0) * 1e6, 3),
            "dur": round(dur_s * 1e6, 3),
            "pid": self._pid,
            "tid": tid,
        }
        if args:
            ev["args"] = args
        line = json.dumps(ev)
        with self._lock:
            if tid not in self._named:
                self._named.add(tid)
                meta = {"name": "thread_name", "ph": "M", "pid": self._pid, "tid": tid, "args": {"name": threading.current_thread().name}}
                self._f.write(json.dumps(meta) + ",\n")
            self._f.write(line + ",\n")

    def counter(self, name: str, values: dict[str, float]) -> None:
        ev = {"name": name, "ph": "C", "ts": round(self.now_us(), 3), "pid": self._pid, "args": values}
        with self._lock:
            self._f.write(json.dumps(ev) + ",\n")

    def close(self) -> None:
        with self._lock:
            if self._f.closed:
                return
            # A final metadata event lets us end the array without a trailing comma.
            self._f.write(json.dumps({"name": "process_name", "ph": "M", "pid": self._pid, "args": {"name": "meetflow"}}) + "\n]\n")
            self._f.close()
