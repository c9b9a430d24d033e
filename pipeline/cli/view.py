"""What ``meetflow run`` shows on a terminal: a live transcript view and replay progress.

Finals are printed above the live area as they arrive (so the whole transcript stays in the
terminal's scroll-back); the live area below shows the partial text of open segments and
a progress line (media time, share of the recording, speed against real time).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

Progress = Callable[[], tuple[float, float | None]]

_COLOURS = ["cyan", "magenta", "green", "yellow", "blue", "red", "bright_cyan", "bright_magenta"]


def _clock(t: float) -> str:
    m, s = divmod(max(t, 0.0), 60)
    return f"{int(m):02d}:{s:04.1f}"


class ProgressLine:
    """Renders "12.3 / 62.0 s ━━━━━━━━━╺━━━━ 20%  4.1x real time"."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.started = time.perf_counter()

    def __rich__(self) -> Any:
        pos, total = self.progress()
        elapsed = max(time.perf_counter() - self.started, 1e-6)
        speed = f"{pos / elapsed:.1f}x real time" if pos > 0 else ""
        if total and pos >= total:
            speed = "input read; finishing (the last segments are being decoded)"
        grid = Table.grid(padding=(0, 1))
        if total:
            grid.add_row(
                Text(f"{pos:7.1f} / {total:.1f} s", style="bold"),
                ProgressBar(total=total, completed=min(pos, total), width=40),
                Text(f"{100 * min(pos / total, 1):3.0f}%"),
                Text(speed, style="dim"),
            )
        else:
            grid.add_row(Text(f"{pos:7.1f} s", style="bold"), Text(speed, style="dim"))
        return grid


class LiveView:
    """The live transcript view; ``update`` is called from node threads."""

    def __init__(self, console: Console, progress: Progress | None) -> None:
        self.console = console
        self.progress = ProgressLine(progress) if progress else None
        self._lock = threading.Lock()
        self._partials: dict[str, Any] = {}
        self._printed: set[str] = set()
        self._speakers: dict[str, str] = {}
        self._live = Live(self, console=console, refresh_per_second=8, transient=True, redirect_stdout=False, redirect_stderr=False)

    def _colour(self, speaker: str | None) -> str:
        if not speaker:
            return "white"
        if speaker not in self._speakers:
            self._speakers[speaker] = _COLOURS[len(self._speakers) % len(_COLOURS)]
        return self._speakers[speaker]

    def _line(self, u: Any, partial: bool) -> Text:
        line = Text(f"[{_clock(u.t0)}] ", style="dim")
        if u.speaker:
            line.append(f"{u.speaker}: ", style=f"bold {self._colour(u.speaker)}")
        if u.azimuth_deg is not None:
            line.append(f"({u.azimuth_deg:+.0f}°) ", style="dim")
        line.append(u.text, style="italic dim" if partial else "")
        return line

    def update(self, u: Any) -> None:
        with self._lock:
            if u.status == "partial":
                self._partials[u.segment_id] = u
                return
            self._partials.pop(u.segment_id, None)
            if u.segment_id in self._printed or not u.text.strip():
                return
            self._printed.add(u.segment_id)
            line = self._line(u, partial=False)
        self._live.console.print(line)

    def __rich__(self) -> Any:
        with self._lock:
            parts = [self._line(u, partial=True) for u in sorted(self._partials.values(), key=lambda x: x.t0)]
        if self.progress is not None:
            parts.append(self.progress)
        return Group(*parts)

    def __enter__(self) -> "LiveView":
        self._live.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._live.stop()


class ProgressOnly:
    """Progress line on stderr when stdout is not a terminal (e.g. redirected to a file)."""

    def __init__(self, console: Console, progress: Progress) -> None:
        self._live = Live(ProgressLine(progress), console=console, refresh_per_second=4, transient=True)

    def __enter__(self) -> "ProgressOnly":
        self._live.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._live.stop()
