"""Write the diariser's speaker turns as RTTM (``diarization.rttm``), relabels included; time how soon each label came."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pipeline import In, Node, OutputError, Packet, SpeakerTurn, StreamInfo

from ..transcript.formats import speaker_token
from ..transcript.writer import atomic_write


class TurnsWriterParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dir: str = Field(".", description="Folder to write into (created if missing).")
    filename: str = Field("diarization.rttm", description="File name.")
    session: str | None = Field(None, description="File id in the RTTM; default: the recording's name.")
    every_s: float = Field(10.0, gt=0, description="Rewrite the file every this many media seconds (and at the end).")
    join_gap_s: float = Field(0.05, ge=0, description="Adjacent turns of one speaker closer than this become one RTTM line.")
    settle_s: float = Field(900.0, gt=0, description="Turns that ended this long (media s) before the newest are settled: written "
                            "as fixed lines and no longer kept (a diariser relabels only its refinement horizon, 600 s by default).")
    latency: bool = Field(True, description="Record label latency (label_s) into the run's metrics: for each stretch of speech, "
                          "the wall time its first label arrived minus the wall time its last sample entered the graph.")


def turns_to_rttm(turns: list[SpeakerTurn], session: str, join_gap_s: float = 0.05) -> str:
    """RTTM lines of the newest revision of each turn, adjacent turns of one speaker joined."""
    rows: list[list[Any]] = []
    for t in sorted(turns, key=lambda t: (t.t0, t.t1)):
        if t.t1 <= t.t0:
            continue
        if rows and rows[-1][0] == t.speaker and t.t0 - rows[-1][2] <= join_gap_s:
            rows[-1][2] = max(rows[-1][2], t.t1)
        else:
            rows.append([t.speaker, t.t0, t.t1])
    fid = speaker_token(session)
    lines = [f"SPEAKER {fid} 1 {a:.3f} {b - a:.3f} <NA> <NA> {speaker_token(s)} <NA> <NA>" for s, a, b in rows]
    return "\n".join(lines) + ("\n" if lines else "")


class TurnsWriter(Node):
    """Keep ``diarization.rttm`` current: who spoke when, as the diariser says (newest revisions)."""

    type_name = "speaker.turns_writer"
    Params = TurnsWriterParams
    inputs = {"turns": In(SpeakerTurn, "Speaker turns (revisions relabel).")}

    params: TurnsWriterParams

    def configure(self, inputs: Mapping[str, StreamInfo]) -> Mapping[str, StreamInfo]:
        path = inputs.get("turns", StreamInfo()).extra.get("path")
        self._session = self.params.session or (Path(str(path)).stem if path else "meeting")
        return {}

    @classmethod
    def files_written(cls, params: BaseModel) -> list[Path]:
        return [Path(params.dir) / params.filename]  # type: ignore[attr-defined]

    def open(self) -> None:
        self._path = self.files_written(self.params)[0]
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot write to {self._path.parent}/: {exc.strerror or exc}") from None
        self._turns: dict[str, SpeakerTurn] = {}
        self._settled: list[str] = []  # RTTM text of turns past settle_s, oldest first
        self._written = 0.0

    def _settle(self, newest: float) -> None:
        """Render the turns no relabel can reach any more once, and let them go (bounded memory)."""
        old = [t for t in self._turns.values() if t.t1 < newest - self.params.settle_s]
        if old:
            self._settled.append(turns_to_rttm(old, self._session, self.params.join_gap_s))
            for t in old:
                del self._turns[t.turn_id]

    def _write(self) -> None:
        live = turns_to_rttm(list(self._turns.values()), self._session, self.params.join_gap_s)
        try:
            atomic_write(self._path, "".join(self._settled) + live)
        except OSError as exc:
            raise OutputError(f"cannot write {self._path}: {exc.strerror or exc}") from None

    def process(self, port: str, packet: Packet) -> None:
        t: SpeakerTurn = packet.payload
        if self.params.latency and t.revision == 0 and not t.overlap:
            # What the graph adds to the speech a label needs (a stretch is the embedding's window, 0.5-0.75 s
            # of new speech): the front end's look-ahead, queues, the other nodes' load and refinement passes,
            # as a live run meets them. From the stretch's end, like final_s from the speech's: its start would
            # count the VAD's padding as delay. Overlap turns are left out: they name someone heard under a
            # stretch already labelled, found later on purpose (after a clear stretch, after a pass).
            self.context.latency.add("label_s", time.time() - self.context.clock.wall_at(t.t1), t.t1)
        old = self._turns.get(t.turn_id)
        if old is None or t.revision >= old.revision:
            self._turns[t.turn_id] = t
        if t.t1 - self._written >= self.params.every_s:
            self._written = t.t1
            self._settle(t.t1)
            self._write()

    def flush(self) -> None:
        self._write()
