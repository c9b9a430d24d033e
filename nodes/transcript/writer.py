"""Write the transcript stream to files: a JSONL journal plus rendered formats."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import IO, Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field

from pipeline import In, Node, OutputError, Packet, StreamInfo, TranscriptUpdate

from .formats import FORMATS
from .state import TranscriptState

FormatName = Literal["jsonl", "seglst", "vtt", "srt", "rttm", "stm", "ctm"]


class WriterParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dir: str = Field(".", description="Folder to write into (created if missing).")
    basename: str = Field("transcript", description="File name stem: transcript.jsonl, transcript.srt, ...")
    formats: list[FormatName] = Field(["jsonl", "seglst", "vtt", "srt", "rttm"], description="Files to write.")
    session: str | None = Field(None, description="Session / file id inside SegLST, RTTM, STM, CTM; default: the recording's name.")
    fsync: bool = Field(True, description="Force each final to disk as it is written (survives a crash or power loss).")
    latency: bool = Field(True, description="Record first-partial and final latency into the run's metrics.")


def atomic_write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that a reader never sees a half-written file."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


class TranscriptWriter(Node):
    """Journal every update to ``transcript.jsonl`` and keep the other formats current.

    The JSONL journal is append-only: one line per update (partials, finals, relabels), each
    with the wall-clock time it was written, flushed at once and forced to disk for finals,
    so no final is lost if the run dies later (``meetflow export`` rebuilds every other
    format from it). The other formats hold final segments only and are rewritten
    atomically whenever the set of finals changes, which also carries relabels through.
    """

    type_name = "transcript.writer"
    Params = WriterParams
    inputs = {"transcript": In(TranscriptUpdate, "Transcript updates (partial, final, relabel).")}

    params: WriterParams

    def __init__(self, node_id: str, params: BaseModel, context: Any) -> None:
        super().__init__(node_id, params, context)
        self._journal: IO[str] | None = None
        self._session = params.session or "meeting"  # type: ignore[attr-defined]

    def configure(self, inputs: Mapping[str, StreamInfo]) -> Mapping[str, StreamInfo]:
        path = inputs.get("transcript", StreamInfo()).extra.get("path")
        if self.params.session is None and path:
            self._session = Path(str(path)).stem or "meeting"
        return {}

    @staticmethod
    def _files(p: WriterParams) -> dict[str, Path]:
        """The file of each format the params ask for."""
        return {name: Path(p.dir) / f"{p.basename}{'.jsonl' if name == 'jsonl' else FORMATS[name][0]}" for name in p.formats}

    @classmethod
    def files_written(cls, params: BaseModel) -> list[Path]:
        return list(cls._files(params).values())  # type: ignore[arg-type]

    def open(self) -> None:
        folder = Path(self.params.dir)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._paths = self._files(self.params)
            journal = self._paths.pop("jsonl", None)
            if journal is not None:
                self._journal = open(journal, "w", encoding="utf-8")
            probe = folder / f".{self.params.basename}.probe"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise OutputError(f"cannot write to {folder}/: {exc.strerror or exc}") from None
        self._state = TranscriptState()
        self._seen: set[str] = set()
        self._finalised: set[str] = set()

    def _render(self) -> None:
        finals = self._state.finals()
        try:
            for name, path in self._paths.items():
                atomic_write(path, FORMATS[name][1](finals, self._session))
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None

    def _latency(self, u: TranscriptUpdate, wall: float) -> None:
        """Record a segment's first-partial and final latency (see README, "Latency").

        First partial: its wall time minus the wall time at which the segment's first
        speech sample entered the graph; final: its wall time minus that of the last
        speech sample. Speech bounds come from the voice activity detector
        (``speech_t0``/``speech_t1``, without its padding); updates from producers that
        do not know them fall back to the segment's own times.
        """
        clock = self.context.clock
        # A segment split at speaker changes (speaker.attribute) is one recogniser segment:
        # its latency counts once, from the first of its parts.
        sid = u.extra.get("split_of", u.segment_id)
        if sid not in self._seen and (u.is_final or u.text.strip()):
            self._seen.add(sid)
            if not u.is_final:
                t = u.speech_t0 if u.speech_t0 is not None else u.t0
                self.context.latency.add("first_partial_s", wall - clock.wall_at(t))
        if u.is_final and sid not in self._finalised and not u.retracted:
            self._finalised.add(sid)
            t = u.speech_t1 if u.speech_t1 is not None else u.t1
            self.context.latency.add("final_s", wall - clock.wall_at(t), t)

    def process(self, port: str, packet: Packet) -> None:
        u: TranscriptUpdate = packet.payload
        wall = time.time()
        if self._journal is not None:
            row = u.to_json()
            row["wall"] = round(wall, 3)
            try:
                self._journal.write(json.dumps(row, ensure_ascii=False) + "\n")
                self._journal.flush()
                if u.is_final and self.params.fsync:
                    os.fsync(self._journal.fileno())
            except OSError as exc:
                raise OutputError(f"cannot write the transcript journal: {exc.strerror or exc}") from None
        if self.params.latency:
            self._latency(u, wall)
        if self._state.apply(u):
            self._render()

    def flush(self) -> None:
        self._render()

    def close(self) -> None:
        if self._journal is not None:
            try:
                self._journal.close()
            finally:
                self._journal = None
