"""Show the transcript as it is produced: in the CLI's live view, or as plain lines.

Plain lines (stdout not a terminal: piped, redirected) cannot be rewritten, yet the
transcript they show is revisable: a diariser relabels final segments later (its refinement
pass every 15 s, for up to its 600 s horizon), and ``speaker.attribute`` splits a segment
whose words belong to two talkers into ``<segment>.0``, ``<segment>.1``, ... and may merge
them back. Printing every new segment id as it came printed the same words twice (a
segment's pieces, then the whole of it again) and speakers that no file kept.

So the printer works on *stretches*: one recogniser segment with all the pieces it is split
into. A stretch is printed once, as one line per piece, ``hold_s`` of media time after its
first final (time for the diariser's first second thoughts, and the end of a burst of
revisions that arrive together). Every word is printed once in such a line. When the
stretch's speakers or pieces change after that, the whole stretch is printed again as a
correction block that a script can apply or skip::

    [00:44.9 - 00:45.6] spk5: Good morning,
    [00:45.9 - 00:53.8] spk4: everyone. Let us share it at the end of next week.
    ...
    ~ revised [00:44.9 - 00:53.8]
    ~ [00:44.9 - 00:53.8] spk4: Good morning, everyone. Let us share it at the end of next week.

``~ revised [A - B]`` replaces every earlier line that lies within A-B (start >= A and
end <= B, as printed) by the ``~ [..]`` lines after it (none: the stretch was withdrawn).
``grep -v '^~'`` keeps each word once, with the speakers known when it was printed.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline import In, Node, Packet, Tracks, TranscriptUpdate

#: How a correction block starts; ``~ `` starts each of its lines.
REVISED = "~ revised"
CORRECTION = "~ "


def clock(t: float) -> str:
    m, s = divmod(max(t, 0.0), 60)
    return f"{int(m):02d}:{s:04.1f}"


def format_line(u: TranscriptUpdate) -> str:
    """One final segment as a line: ``[00:01.2 - 00:03.4] speaker: text``."""
    who = f"{u.speaker}: " if u.speaker else ""
    return f"[{clock(u.t0)} - {clock(u.t1)}] {who}{u.text.strip()}"


_PIECE = re.compile(r"^(.*)\.\d+$")


@dataclass
class Shown:
    """One thing to print: a segment's line, the head of a correction block, or a corrected line."""

    kind: Literal["line", "revised", "fix"]
    update: TranscriptUpdate | None = None
    span: tuple[float, float] = (0.0, 0.0)

    def text(self) -> str:
        if self.kind == "revised":
            return f"{REVISED} [{clock(self.span[0])} - {clock(self.span[1])}]"
        assert self.update is not None
        return (CORRECTION if self.kind == "fix" else "") + format_line(self.update)


@dataclass
class _Stretch:
    """One recogniser segment: its pieces now, and what was printed of it."""

    pieces: dict[str, TranscriptUpdate] = field(default_factory=dict)
    revisions: dict[str, int] = field(default_factory=dict)
    shown: tuple[str, ...] | None = None  # the lines printed (None: never printed)
    shown_span: tuple[float, float] | None = None
    pending_at: float | None = None  # media time since which what it holds differs from what was printed
    changed_at: float = 0.0  # media time of its latest change
    changed_wall: float = 0.0
    t1: float = 0.0

    def lines(self) -> tuple[str, ...]:
        return tuple(format_line(u) for u in sorted(self.pieces.values(), key=lambda u: (u.t0, u.segment_id)))

    def span(self) -> tuple[float, float] | None:
        if not self.pieces:
            return None
        return min(u.t0 for u in self.pieces.values()), max(u.t1 for u in self.pieces.values())


class PipedTranscript:
    """Turns transcript updates into plain lines: each stretch once, then correction blocks.

    ``update(at, u)`` takes each update with its packet's media time; ``due(now)`` returns
    the lines to print once media time ``now`` has been reached (a stretch is printed
    ``hold_s`` after its first final, a correction ``hold_s`` after the first change since it
    was printed, and never while a burst of revisions at one media time may be incomplete);
    ``flush()`` everything still held. Deterministic: media time only. ``due_by_wall``
    serves live runs, where no update may arrive for a while (a silence).
    """

    def __init__(self, hold_s: float = 2.0, corrections: bool = True, horizon_s: float = 900.0) -> None:
        self.hold_s = hold_s
        self.corrections = corrections
        self.horizon_s = horizon_s
        self._stretches: dict[str, _Stretch] = {}
        self._owner: dict[str, str] = {}  # piece id -> stretch id
        self.now = float("-inf")

    def _stretch_of(self, u: TranscriptUpdate) -> str:
        sid = u.segment_id
        if "split_of" in u.extra:
            return str(u.extra["split_of"])
        if sid in self._owner:
            return self._owner[sid]
        m = _PIECE.match(sid)
        if m and m.group(1) in self._stretches:  # a piece's retraction carries no split_of
            return m.group(1)
        return sid

    def update(self, at: float, u: TranscriptUpdate, wall: float = 0.0) -> None:
        self.now = max(self.now, at)
        if not u.is_final:
            return
        key = self._stretch_of(u)
        st = self._stretches.get(key)
        if st is None:
            if u.retracted:
                return  # a partial that came to nothing: never printed
            st = self._stretches[key] = _Stretch()
        if u.revision < st.revisions.get(u.segment_id, -1):
            return
        st.revisions[u.segment_id] = u.revision
        self._owner[u.segment_id] = key
        if u.retracted:
            st.pieces.pop(u.segment_id, None)
        else:
            st.pieces[u.segment_id] = u
            st.t1 = max(st.t1, u.t1)
        changed = st.lines() != (st.shown or ())
        if changed and st.pending_at is None:
            st.pending_at = self.now
        elif not changed:
            st.pending_at = None  # back to what was printed: nothing to say
        st.changed_at, st.changed_wall = self.now, wall

    def _ready(self, st: _Stretch, now: float) -> bool:
        return st.pending_at is not None and now >= st.pending_at + self.hold_s and now > st.changed_at

    def _render(self, st: _Stretch) -> list[Shown]:
        lines = st.lines()
        span = st.span()
        pieces = sorted(st.pieces.values(), key=lambda u: (u.t0, u.segment_id))
        st.pending_at = None
        if st.shown is None:
            if not lines:
                return []
            st.shown, st.shown_span = lines, span
            return [Shown("line", u) for u in pieces]
        if not self.corrections:
            return []
        spans = [s for s in (st.shown_span, span) if s is not None]
        t0, t1 = min(s[0] for s in spans), max(s[1] for s in spans)
        st.shown, st.shown_span = lines, span
        return [Shown("revised", span=(t0, t1))] + [Shown("fix", u) for u in pieces]

    def _emit(self, ready: list[_Stretch]) -> list[Shown]:
        out: list[Shown] = []
        for st in sorted(ready, key=lambda s: s.span() or s.shown_span or (0.0, 0.0)):
            out.extend(self._render(st))
        return out

    def due_items(self, now: float | None = None) -> list[Shown]:
        """What is due at media time ``now`` (default: the latest update's), for a view that styles it itself."""
        now = self.now if now is None else now
        out = self._emit([st for st in self._stretches.values() if self._ready(st, now)])
        self._prune(now)
        return out

    def due(self, now: float | None = None) -> list[str]:
        """Lines whose time has come at media time ``now`` (default: the latest update's)."""
        return [x.text() for x in self.due_items(now)]

    def held(self) -> list[TranscriptUpdate]:
        """Final pieces not printed yet (a terminal view shows them in its live area meanwhile)."""
        return sorted((u for st in self._stretches.values() if st.shown is None for u in st.pieces.values()), key=lambda u: u.t0)

    def due_by_wall(self, media_now: float, wall_now: float, quiet_s: float = 0.3) -> list[str]:
        """Live runs: lines due at the media time the wall clock has reached, ``media_now``,
        for stretches whose latest revision came at least ``quiet_s`` ago (a burst is over)."""
        ready = [st for st in self._stretches.values()
                 if st.pending_at is not None and media_now >= st.pending_at + self.hold_s and wall_now - st.changed_wall >= quiet_s]
        return [x.text() for x in self._emit(ready)]

    def flush_items(self) -> list[Shown]:
        """End of the stream: everything not yet printed."""
        return self._emit([st for st in self._stretches.values() if st.pending_at is not None])

    def flush(self) -> list[str]:
        """End of the stream: everything not yet printed, as lines."""
        return [x.text() for x in self.flush_items()]

    def _prune(self, now: float) -> None:
        """Stretches past the horizon no longer change (``speaker.attribute`` lets them go)."""
        old = [k for k, st in self._stretches.items() if st.pending_at is None and st.t1 < now - self.horizon_s]
        for k in old:
            for pid in self._stretches.pop(k).revisions:
                self._owner.pop(pid, None)


class ConsoleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stream: Literal["stdout", "stderr"] = Field("stdout", description="Where plain lines go when there is no live view.")
    hold_s: float = Field(2.0, ge=0, description="Plain lines: a final segment is printed this long (media s) after its first "
                          "final, so that the speaker labels of the first second or two, which a diariser often revises at "
                          "once, are settled (0: print at once).")
    corrections: bool = Field(True, description="Plain lines: when speakers change after a segment was printed, print it again "
                              "as a '~ revised [start - end]' block of '~ ' lines (false: every segment is printed once; later "
                              "relabels reach the files only).")
    horizon_s: float = Field(900.0, gt=0, description="Plain lines: segments ending this long (media s) before the newest "
                             "are forgotten (the attribution no longer revises them).")


class ConsoleSink(Node):
    """Hand updates to the live views, or print the transcript as plain lines.

    ``meetflow run`` attaches a live view (partials that settle into finals, speakers,
    talker directions, progress) when stdout is a terminal, and a web page with ``--web``;
    otherwise, e.g. when piped, the final transcript is printed as plain lines a script can
    rely on: every word once, in a line ``[mm:ss.s - mm:ss.s] speaker: text`` printed
    ``hold_s`` after its segment's first final, and later relabels as ``~`` correction
    blocks (see this module's docstring). Connect a tracker's ``Tracks`` to ``tracks`` to
    show where the talkers are.
    """

    type_name = "transcript.console"
    Params = ConsoleParams
    inputs = {
        "transcript": In(TranscriptUpdate, "Transcript updates."),
        "tracks": In(Tracks, "Talker directions from a tracker (optional), shown in the live views.", policy="latest", required=False),
    }

    params: ConsoleParams

    def open(self) -> None:
        self._piped = PipedTranscript(self.params.hold_s, self.params.corrections, self.params.horizon_s)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def _print(self, lines: list[str]) -> None:
        if lines:
            out = sys.stdout if self.params.stream == "stdout" else sys.stderr
            print("\n".join(lines), file=out, flush=True)

    def _tick(self) -> None:
        """Live runs: print what is due even while nothing arrives (a silence)."""
        while not self._stop.wait(0.25):
            wall = time.time()
            media_now = wall - self.context.clock.start_wall  # the media time a real-time input has reached
            with self._lock:
                self._print(self._piped.due_by_wall(media_now - 0.5, wall))

    def process(self, port: str, packet: Packet) -> None:
        if port == "tracks":
            if self.context.views:
                self.context.publish(packet.payload)
            return
        u: TranscriptUpdate = packet.payload
        views = self.context.views
        if views:
            self.context.publish(u)
            if self.context.views_print_finals():
                return
        if self.context.quiet:
            return
        with self._lock:
            self._piped.update(packet.t0, u, time.time())
            self._print(self._piped.due())
        if self._ticker is None and (self.context.live or self.context.realtime):
            self._ticker = threading.Thread(target=self._tick, name=f"{self.id}-lines", daemon=True)
            self._ticker.start()

    def flush(self) -> None:
        self._stop.set()
        with self._lock:
            self._print(self._piped.flush())

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=1.0)
            self._ticker = None
