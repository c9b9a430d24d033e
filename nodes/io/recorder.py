"""Write an audio stream to a file as it flows, so a live meeting can be replayed exactly."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline import AudioBlock, In, OutputError, Packet, StreamInfo
from pipeline.node import Node

#: Container and sample format per file extension. Float formats keep the samples bit for
#: bit; FLAC stores 24-bit integers (exact for 16- and 24-bit devices, ~half the size).
FORMATS = {
    ".wav": ("WAV", "FLOAT"),
    ".rf64": ("RF64", "FLOAT"),
    ".w64": ("W64", "FLOAT"),
    ".caf": ("CAF", "FLOAT"),
    ".flac": ("FLAC", "PCM_24"),
}


class RecorderParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="File to write: .wav (32-bit float; up to 4 GB), .rf64/.w64/.caf (32-bit float, no size limit) or .flac (24-bit).")
    flush_s: float = Field(1.0, gt=0, description="Update the file's header and push the audio to disk this often (wall seconds), so a crash loses at most this much.")


class Recorder(Node):
    """Save the audio a graph receives, sample for sample, while the graph runs.

    Meant to be attached to the source (``meetflow record`` does it): the file then holds
    exactly the stream the graph saw, lost audio included as the silence that replaced
    it, so ``meetflow run GRAPH --input FILE`` replays the meeting with the same media
    time line. Should blocks ever skip ahead, the gap is written as silence for the same
    reason. The header is kept current while recording: a file cut short by a crash or
    power loss is still readable up to its last flush.
    """

    type_name = "io.recorder"
    Params = RecorderParams
    inputs = {"audio": In(AudioBlock, "Audio to save (any rate and channel count, fixed for the stream).")}

    params: RecorderParams

    def __init__(self, node_id: str, params: BaseModel, context: Any) -> None:
        super().__init__(node_id, params, context)
        self._file: Any = None

    def configure(self, inputs: Mapping[str, StreamInfo]) -> Mapping[str, StreamInfo]:
        ext = Path(self.params.path).suffix.lower()
        if ext not in FORMATS:
            from pipeline import ConfigError

            raise ConfigError(f"cannot record to '{self.params.path}': use one of {', '.join(sorted(FORMATS))}", "path")
        info = inputs.get("audio", StreamInfo())
        self._rate, self._channels = info.rate, info.channels
        return {}

    @classmethod
    def files_written(cls, params: BaseModel) -> list[Path]:
        return [Path(params.path)]  # type: ignore[attr-defined]

    def open(self) -> None:
        self._written = 0  # frames, = the next block's expected start
        self._last_flush = time.monotonic()
        path = Path(self.params.path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            probe = path.with_name(f".{path.name}.probe")
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise OutputError(f"cannot record to {path}: {exc.strerror or exc}") from None

    def _start(self, block: AudioBlock) -> None:
        import soundfile as sf

        fmt, subtype = FORMATS[Path(self.params.path).suffix.lower()]
        try:
            self._file = sf.SoundFile(self.params.path, "w", samplerate=block.rate, channels=block.channels, format=fmt, subtype=subtype)
        except Exception as exc:
            raise OutputError(f"cannot record to {self.params.path}: {exc}") from None
        self._written = block.start
        if block.start:  # the stream began later than sample 0: keep the time line
            self._write(np.zeros((block.start, block.channels), dtype=np.float32))

    def _write(self, x: np.ndarray) -> None:
        try:
            self._file.write(x)
        except Exception as exc:
            raise OutputError(f"cannot write the recording {self.params.path}: {exc}") from None
        self._written += len(x)

    def process(self, port: str, packet: Packet) -> None:
        block: AudioBlock = packet.payload
        if self._file is None:
            self._start(block)
        if block.start > self._written:
            self._write(np.zeros((block.start - self._written, block.channels), dtype=np.float32))
        skip = self._written - block.start  # overlapping audio (never expected) is not written twice
        x = block.samples if skip <= 0 else block.samples[skip:]
        if len(x):
            self._write(x)
        now = time.monotonic()
        if now - self._last_flush >= self.params.flush_s:
            self._last_flush = now
            self._file.flush()  # rewrites the header: the file is valid as it stands

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()
            secs = self._written / self._file.samplerate
            self.context.report.setdefault("recording", {})[self.id] = {
                "path": self.params.path, "frames": self._written, "seconds": round(secs, 3),
                "rate": self._file.samplerate, "channels": self._file.channels,
            }

    def close(self) -> None:
        f, self._file = self._file, None
        if f is not None:
            try:
                f.close()
            except Exception as exc:
                self.context.log.warning("closing the recording %s failed: %s", self.params.path, exc)
