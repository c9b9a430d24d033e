"""Sinks for the array branch: ``tracks.jsonl`` (talker tracks) and ``doa.jsonl`` (raw directions)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any, Mapping

from pydantic import BaseModel, ConfigDict, Field

from pipeline import DirectionEstimate, In, Node, OutputError, Packet, StreamInfo, Tracks

from .geometry import round_az
from .mics import OFF_KEY


class _JsonlSink(Node):
    """Shared part: one JSON object per line, flushed per packet; no file when the array stands aside."""

    params: Any

    def __init__(self, node_id: str, params: BaseModel, context: Any) -> None:
        super().__init__(node_id, params, context)
        self._file: IO[str] | None = None
        self.off: str | None = None

    def configure(self, inputs: Mapping[str, StreamInfo]) -> Mapping[str, StreamInfo]:
        info = next(iter(inputs.values()), StreamInfo())
        self.off = info.extra.get(OFF_KEY)
        return {}

    @classmethod
    def files_written(cls, params: BaseModel) -> list[Path]:
        return [Path(params.dir) / params.file]  # type: ignore[attr-defined]

    def open(self) -> None:
        if self.off is not None:
            return
        path = self.files_written(self.params)[0]
        folder = path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "w", encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
        self.path = path

    def _write(self, rows: list[dict]) -> None:
        if self._file is None or not rows:
            return
        try:
            self._file.write("".join(json.dumps(r) + "\n" for r in rows))
            self._file.flush()
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class TracksWriterParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dir: str = Field(".", description="Folder to write into (created if missing).")
    file: str = Field("tracks.jsonl", description="File name.")
    include_silent: bool = Field(False, description="Also write tracks that are not active (silent talkers), marked \"active\": false.")


class TracksWriter(_JsonlSink):
    """Write talker tracks to ``tracks.jsonl``: lines ``{t, track_id, azimuth_deg, std_deg}``.

    ``t`` is the centre of the block the update came from. By default only active tracks
    (talkers heard within the tracker's hold time) are written, so the file says who was
    audible where; a track id that reappears after a gap is the same talker, back.
    Nothing is written (no file) when the input has no array (mono).
    """

    type_name = "array.tracks_writer"
    Params = TracksWriterParams
    inputs = {"tracks": In(Tracks, "Tracks (array.tracker).")}

    params: TracksWriterParams

    def process(self, port: str, packet: Packet) -> None:
        tracks: Tracks = packet.payload
        t = round(0.5 * (packet.t0 + packet.t1), 3)
        rows = []
        for tr in tracks.tracks:
            if tr.active or self.params.include_silent:
                row = {"t": t, "track_id": tr.track_id, "azimuth_deg": round_az(tr.azimuth_deg), "std_deg": round(tr.std_deg, 2)}
                if self.params.include_silent:
                    row["active"] = tr.active
                rows.append(row)
        self._write(rows)


class DoaWriterParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dir: str = Field(".", description="Folder to write into (created if missing).")
    file: str = Field("doa.jsonl", description="File name.")
    min_activity: float = Field(0.0, ge=0, le=1, description="Skip blocks quieter than this.")


class DoaWriter(_JsonlSink):
    """Write raw per-block directions to ``doa.jsonl``: lines ``{t, azimuth_deg: [...], strength: [...], activity}``.

    For inspection and for ``meetflow eval doa --doa``, which scores raw directions beside
    the tracks.
    """

    type_name = "array.doa_writer"
    Params = DoaWriterParams
    inputs = {"directions": In(DirectionEstimate, "Directions (array.doa).")}

    params: DoaWriterParams

    def process(self, port: str, packet: Packet) -> None:
        est: DirectionEstimate = packet.payload
        if est.activity < self.params.min_activity:
            return
        self._write([{"t": round(0.5 * (packet.t0 + packet.t1), 3), "azimuth_deg": [round_az(a) for a in est.azimuth_deg],
                      "strength": [round(float(s), 3) for s in est.strength], "activity": round(float(est.activity), 3)}])
