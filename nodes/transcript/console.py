"""Show the transcript as it is produced: in the CLI's live view, or as plain lines."""

from __future__ import annotations

import sys
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline import In, Node, Packet, Tracks, TranscriptUpdate


def format_line(u: TranscriptUpdate) -> str:
    """One final segment as a line: ``[00:01.2 - 00:03.4] speaker: text``."""

    def clock(t: float) -> str:
        m, s = divmod(max(t, 0.0), 60)
        return f"{int(m):02d}:{s:04.1f}"

    who = f"{u.speaker}: " if u.speaker else ""
    return f"[{clock(u.t0)} - {clock(u.t1)}] {who}{u.text}"


class ConsoleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stream: Literal["stdout", "stderr"] = Field("stdout", description="Where plain lines go when there is no live view.")


class ConsoleSink(Node):
    """Hand updates to the live views, or print each final segment as a line.

    ``meetflow run`` attaches a live view (partials that settle into finals, speakers,
    talker directions, progress) when stdout is a terminal, and a web page with ``--web``;
    otherwise, e.g. when piped, final segments are printed one per line so the output can
    be grepped or redirected. Connect a tracker's ``Tracks`` to ``tracks`` to show where
    the talkers are.
    """

    type_name = "transcript.console"
    Params = ConsoleParams
    inputs = {
        "transcript": In(TranscriptUpdate, "Transcript updates."),
        "tracks": In(Tracks, "Talker directions from a tracker (optional), shown in the live views.", policy="latest", required=False),
    }

    params: ConsoleParams

    def open(self) -> None:
        self._printed: set[str] = set()

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
        if u.is_final and not u.retracted and u.segment_id not in self._printed:
            self._printed.add(u.segment_id)  # relabels of printed lines are not repeated
            out = sys.stdout if self.params.stream == "stdout" else sys.stderr
            print(format_line(u), file=out, flush=True)
