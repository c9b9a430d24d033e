"""What ``meetflow run`` shows on a terminal: a live transcript view and replay progress.

Finals are printed above the live area as they arrive (so the whole transcript stays in the
terminal's scroll-back), each speaker in a colour of their own; the live area below shows
the partial text of open segments, the talkers' directions (from a tracker's ``Tracks``),
the capture device's health (level, lost audio, clock drift), each node's load and queue,
what overload shedding dropped, and a progress line (media time, share of the recording,
speed against real time).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from ..payloads import Tracks

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

Progress = Callable[[], tuple[float, float | None]]

_COLOURS = ["cyan", "magenta", "green", "yellow", "blue", "red", "bright_cyan", "bright_magenta"]


#: Arrows for azimuths (degrees counter-clockwise from the array's +x axis, drawn to the right).
_ARROWS = ["→", "↗", "↑", "↖", "←", "↙", "↓", "↘"]


def arrow(azimuth_deg: float) -> str:
    """The arrow pointing towards ``azimuth_deg`` (0 = right, 90 = up)."""
    return _ARROWS[int(((azimuth_deg % 360) + 22.5) // 45) % 8]


def _clock(t: float) -> str:
    m, s = divmod(max(t, 0.0), 60)
    return f"{int(m):02d}:{s:04.1f}"


class ProgressLine:
    """Renders "12.3 / 62.0 s ━━━━━━━━━╺━━━━ 20%  4.1x real time" ("● live 01:02.3" when live)."""

    def __init__(self, progress: Progress, live: Callable[[], bool] | None = None) -> None:
        self.progress = progress
        self.live = live
        self.started = time.perf_counter()

    def __rich__(self) -> Any:
        pos, total = self.progress()
        if self.live is not None and self.live():
            line = Text("● ", style="bold red")
            line.append(f"live {_clock(pos)}", style="bold")
            line.append("   Ctrl-C stops and writes the transcript", style="dim")
            return line
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
    """The live transcript view; ``update`` is called from node threads.

    ``status`` (a ``RunStatus``) adds the lines about talkers, capture, load and drops.
    """

    #: This view prints final segments itself (console sinks need not print lines).
    prints_finals = True

    def __init__(self, console: Console, progress: Progress | None, status: Any = None) -> None:
        self.console = console
        self.status = status
        live = (lambda: bool(status.context.live)) if status is not None else None
        self.progress = ProgressLine(progress, live) if progress else None
        self._lock = threading.Lock()
        self._partials: dict[str, Any] = {}
        # Finals go to the scrollback, which cannot be rewritten, while the diariser may still
        # relabel or re-split them: the same policy as piped lines (each segment printed once,
        # about 2 s after its final, shown in the live area meanwhile; later changes as "~"
        # correction blocks), so a terminal never shows a segment's pieces and then the whole.
        from nodes.transcript.console import PipedTranscript

        self._finals = PipedTranscript()
        self._speakers: dict[str, str] = {}
        self._tracks: Tracks | None = None
        self._snapshot: dict[str, Any] | None = None
        self._snapshot_at = 0.0
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
        if isinstance(u, Tracks):
            with self._lock:
                self._tracks = u
            return
        with self._lock:
            if u.status == "partial":
                self._partials[u.segment_id] = u
                return
            self._partials.pop(u.segment_id, None)
            self._finals.update(max(self._finals.now, u.t1), u)
            lines = [self._shown(x) for x in self._finals.due_items()]
        for line in lines:
            self._live.console.print(line)

    def _shown(self, x: Any) -> Text:
        """A final segment's line, or a correction block's (dim, after '~')."""
        if x.kind == "revised":
            return Text(x.text(), style="dim")
        line = self._line(x.update, partial=False)
        return Text("~ ", style="dim") + line if x.kind == "fix" else line

    def _status(self) -> dict[str, Any] | None:
        if self.status is None:
            return None
        now = time.monotonic()
        if self._snapshot is None or now - self._snapshot_at >= 0.5:
            self._snapshot, self._snapshot_at = self.status.snapshot(), now
        return self._snapshot

    def _talkers(self) -> Text | None:
        tracks = self._tracks
        if tracks is None or not tracks.tracks:
            return None
        line = Text("talkers  ", style="bold")
        for tr in sorted(tracks.tracks, key=lambda t: t.track_id):
            colour = _COLOURS[tr.track_id % len(_COLOURS)]
            style = f"bold {colour}" if tr.active else f"dim {colour}"
            line.append(f"{arrow(tr.azimuth_deg)} {tr.track_id} {tr.azimuth_deg:+4.0f}°", style=style)
            line.append("   " if tr.active else " (quiet)   ", style="dim")
        return line

    def _health(self, st: dict[str, Any]) -> list[Text]:
        lines: list[Text] = []
        report = st.get("report", {})
        for cap in report.get("capture", {}).values():
            line = Text("capture  ", style="bold")
            line.append(f"{cap.get('input')} {cap.get('channels')} ch {cap.get('rate', 0) / 1000:g} kHz")
            peak = cap.get("peak_dbfs")
            if peak:
                line.append(f"  peak {max(peak):.0f} dBFS", style="red" if max(peak) > -1 else "")
            lost = cap.get("lost_s") or 0.0
            line.append(f"  lost {lost:.2f} s in {cap.get('overflows', 0)} overflow(s)", style="bold red" if lost else "dim")
            drift = cap.get("drift_ppm")
            line.append(f"  drift {drift:+.0f} ppm" if drift is not None else "  drift (measuring)", style="dim")
            lines.append(line)
        loads = st.get("load", {})
        if loads:
            line = Text("load     ", style="bold")
            for nid, v in loads.items():
                line.append(f"{nid} {100 * v:.0f}%  ", style="bold red" if v > 0.9 else ("yellow" if v > 0.6 else "dim"))
            for label, q in st.get("queues", {}).items():
                if q["seconds"] >= 0.5:
                    line.append(f"queue {label.split(' -> ')[1].split('.')[0]} {q['seconds']:.1f} s  ", style="yellow")
            lines.append(line)
        shed = [s for s in report.get("shedding", {}).values() if s.get("segments_dropped") or s.get("segments_cut")]
        drops = st.get("drops", {})
        if shed or drops:
            line = Text("overload ", style="bold red")
            for s in shed:
                line.append(f"dropped {s['segments_dropped']} segment(s), cut {s['segments_cut']} ({s['speech_dropped_s']:.1f} s of speech)  ")
            for label, n in drops.items():
                line.append(f"{label}: {n} packet(s) dropped  ")
            lines.append(line)
        lat = st.get("latency", {})
        shown = [(name, lat[key]) for key, name in (("final_s", "final text"), ("label_s", "speaker label")) if lat.get(key)]
        if shown and st.get("live"):
            lines.append(Text("latency  " + "  ".join(f"{name} {v['p50']:.1f} s (p50), {v['max']:.1f} s (max)" for name, v in shown),
                              style="dim"))
        return lines

    def __rich__(self) -> Any:
        with self._lock:
            parts: list[Any] = [self._line(u, partial=False) for u in self._finals.held()]
            parts += [self._line(u, partial=True) for u in sorted(self._partials.values(), key=lambda x: x.t0)]
            talkers = self._talkers()
        if talkers is not None:
            parts.append(talkers)
        st = self._status()
        if st is not None:
            parts.extend(self._health(st))
        if self.progress is not None:
            parts.append(self.progress)
        return Group(*parts)

    def __enter__(self) -> "LiveView":
        self._live.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        with self._lock:
            lines = [self._shown(x) for x in self._finals.flush_items()]
        for line in lines:
            self._live.console.print(line)
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
