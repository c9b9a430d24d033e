"""Keep a long run's memory flat: hand freed heap memory back to the system every few seconds.

Why this exists: glibc's malloc keeps memory that has been freed inside its arenas unless
the free space happens to sit at the top of a heap. Native libraries that allocate buffers
of a new size for every input (CTranslate2's Whisper decodes each utterance at its own
length; torch; pocketsphinx) leave the heaps fragmented, so the process's resident memory
creeps up although nothing is kept. Measured on this project: the default meeting graph's
RSS grew 14.6 MB per minute over a 10-minute live run (616 -> 1008 MB), and Whisper's second
pass alone went from 296 to 397 MB over 140 utterances with no Python object growing;
with ``malloc_trim(0)`` after each utterance it stayed between 316 and 341 MB.

glibc also raises its mmap threshold each time a large block that was mmapped is freed
(up to 32 MB), so after the first big transient buffer (a long Whisper window) every later
buffer up to that size comes from the heaps instead and stays resident once touched: the
live benchmark's RSS stepped up by 25-75 MB at a random moment in its first 1.5-3.5 minutes.
``pin_mmap_threshold`` fixes the threshold (``mallopt(M_MMAP_THRESHOLD)``, which also turns
the climbing off), so large buffers are always mapped and unmapped as they come and go.

Each thread that mallocs gets an arena of its own, up to eight per core by default, and each
fragments on its own (the executors run a thread per node, the recognisers more).
``limit_arenas`` caps them at one per core: in the 10-minute live benchmark the RSS after
each trim then grew 0.19 MB/min over minutes 2-10 instead of 1.0, at the same latency.

Trims come every 2 s: what a decode frees stays resident until the next trim, so with 10 s
between trims the RSS sampled at any moment swung by 25-30 MB above the trimmed level (a
trim takes 5-15 ms, in this thread, with the GIL released).

``MemoryKeeper`` runs beside the executor in a daemon thread: every ``interval_s`` of wall
time it calls ``malloc_trim(0)`` (thread-safe: glibc locks each arena while it trims) and
notes the resident set size, which ``metrics.json`` reports under ``memory``. Elsewhere
than glibc (macOS, musl) trimming is a no-op and only the sizes are reported.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading
import time
from collections import deque
from typing import Any, Callable

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _glibc(symbol: str, argtypes: list[Any], restype: Any) -> Callable[..., Any] | None:
    """A function of the C library where it is glibc (it has ``malloc_trim``), else None."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim  # noqa: B018  (glibc only: elsewhere none of these apply)
        fn = getattr(libc, symbol)
    except (OSError, AttributeError):
        return None
    fn.argtypes = argtypes
    fn.restype = restype
    return fn


def _mb(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


_TRIM = _glibc("malloc_trim", [ctypes.c_size_t], ctypes.c_int)
_MALLOPT = _glibc("mallopt", [ctypes.c_int, ctypes.c_int], ctypes.c_int)
_M_MMAP_THRESHOLD = -3  # mallopt parameter numbers (malloc.h)
_M_ARENA_MAX = -8
#: Buffers at least this large are mmapped (and given back when freed); glibc starts at 128 KiB
#: and climbs to 32 MiB. Lower costs time: every such buffer is then faulted in afresh
#: (measured, Whisper's second pass over 50 utterances: unpinned 34.0 s; 256 KiB 43.3 s,
#: 1 MiB 38.1 s, 4 MiB 34.6 s, 16 MiB 34.4 s).
MMAP_THRESHOLD = 4 * 1024 * 1024


def pin_mmap_threshold(nbytes: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at ``nbytes`` (and stop it climbing); False where not glibc."""
    return _MALLOPT is not None and bool(_MALLOPT(_M_MMAP_THRESHOLD, int(nbytes)))


def limit_arenas(n: int | None = None) -> int | None:
    """Let malloc create at most ``n`` arenas (default: one per core); the limit set, or None where not glibc.

    Only arenas created afterwards are limited, so call it before the threads start.
    """
    n = n or max(2, os.cpu_count() or 2)
    return n if _MALLOPT is not None and _MALLOPT(_M_ARENA_MAX, int(n)) else None


def can_trim() -> bool:
    """Whether this C library can hand free heap memory back (glibc's ``malloc_trim``)."""
    return _TRIM is not None


def trim() -> bool:
    """Release free heap memory to the system now; True if some was released."""
    return bool(_TRIM(0)) if _TRIM is not None else False


class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


_MALLINFO = _glibc("mallinfo2", [], _MallInfo2)  # glibc >= 2.33


def heap_mb() -> tuple[float, float] | None:
    """(in use, free inside the heaps) in MB over all of malloc's arenas, mmapped blocks counted in use."""
    if _MALLINFO is None:
        return None
    m = _MALLINFO()
    return (m.uordblks + m.hblkhd) / 1048576, m.fordblks / 1048576


def rss_mb() -> float | None:
    """This process's resident set size in MB (None where /proc is not available)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE / 1048576
    except (OSError, IndexError, ValueError):
        return None


class MemoryKeeper:
    """Trims the heap every ``interval_s`` seconds while a run goes on, and tracks its RSS."""

    def __init__(self, interval_s: float = 2.0, series_s: float = 10.0) -> None:
        self.interval_s = interval_s
        #: a row of ``series`` every this many trims (about every ``series_s`` of wall time)
        self.series_every = max(1, round(series_s / interval_s)) if interval_s > 0 else 1
        self.trims = 0
        self.released_mb = 0.0  # RSS given back by the trims (sum of drops across each call)
        self.max_trim_ms = 0.0
        self.rss_start: float | None = rss_mb()
        self.rss_peak: float | None = self.rss_start
        self.rss_end: float | None = self.rss_start
        self.mmap_pinned = False
        self.arena_max: int | None = None
        #: one row per ``series_s``, after that trim: seconds since start, RSS, malloc in use, malloc free, Python's allocated blocks
        #: (tells a leak, in use or Python blocks rising, from fragmentation, free rising); the last hour
        self.series: deque[tuple[float, float | None, float | None, float | None, int]] = deque(maxlen=360)
        self._t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval_s <= 0 or self._thread is not None:
            return
        self.mmap_pinned = pin_mmap_threshold()
        self.arena_max = limit_arenas()
        self._thread = threading.Thread(target=self._loop, name="meetflow:memory", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._note(rss_mb())

    def step(self) -> None:
        """One trim, timed, with the RSS before and after."""
        before = rss_mb()
        self._note(before)
        t = time.perf_counter()
        trim()
        self.max_trim_ms = max(self.max_trim_ms, (time.perf_counter() - t) * 1000)
        after = rss_mb()
        self.trims += 1
        if before is not None and after is not None and after < before:
            self.released_mb += before - after
        self._note(after)
        if (self.trims - 1) % self.series_every:
            return
        used, free = heap_mb() or (None, None)
        self.series.append((round(time.monotonic() - self._t0, 1), _mb(after), _mb(used), _mb(free), sys.getallocatedblocks()))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.step()

    def _note(self, rss: float | None) -> None:
        if rss is None:
            return
        self.rss_end = rss
        self.rss_peak = rss if self.rss_peak is None else max(self.rss_peak, rss)

    def to_json(self) -> dict[str, Any]:
        return {
            "rss_mb": {"start": _mb(self.rss_start), "peak": _mb(self.rss_peak), "end": _mb(self.rss_end)},
            "trim": can_trim() and self.interval_s > 0,
            "trim_interval_s": self.interval_s,
            "series_every": self.series_every,
            "trims": self.trims,
            "released_mb": _mb(self.released_mb),
            "max_trim_ms": round(self.max_trim_ms, 2),
            "mmap_threshold_kb": MMAP_THRESHOLD // 1024 if self.mmap_pinned else None,
            "arena_max": self.arena_max,
            "series": {"columns": ["t_s", "rss_mb", "malloc_in_use_mb", "malloc_free_mb", "python_blocks"], "rows": [list(x) for x in self.series]},
        }
