"""Read a recording (any format and channel count soundfile reads) as a stream of blocks."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline import AudioBlock, InputError, Out, Packet, Source, StreamInfo, media_time

from ..audio.resample import StreamingResampler


class AudioFileParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="Recording to read (WAV, FLAC, OGG, MP3, ... anything libsndfile reads).")
    rate: int | None = Field(16000, ge=1000, le=384000, description="Output sample rate; the file is resampled (polyphase) when it differs. null keeps the file's rate.")
    block_ms: float = Field(20.0, gt=0, le=1000, description="Block length in milliseconds of output audio.")
    channels: list[int] | None = Field(None, description="Keep only these channels (0-based, in this order); null keeps all.")
    expect_channels: int | None = Field(None, ge=1, description="Reject a recording that does not have exactly this many channels (after 'channels').")
    start_s: float = Field(0.0, ge=0, description="Skip this much audio at the start.")
    duration_s: float | None = Field(None, gt=0, description="Read at most this much audio.")


class AudioFileSource(Source):
    """Stream a recording in fixed-size blocks, resampled to the graph's rate.

    Media time comes from the output sample counter, so it is exact however long the file.
    With ``--realtime`` each block is released when a real device would have delivered it,
    which makes a replay behave like a live meeting (latency figures, overload policies).
    A file that ends before its header says (truncated) is read to where the data stops,
    with a warning; a file that cannot be decoded at all is an input error.
    """

    type_name = "io.audio_file"
    Params = AudioFileParams
    outputs = {"audio": Out(AudioBlock, "Blocks of float32 audio, shape (frames, channels).")}

    params: AudioFileParams

    @classmethod
    def files_read(cls, params: BaseModel) -> list[Path]:
        path = getattr(params, "path", None)
        return [Path(path)] if isinstance(path, str) else []

    def __init__(self, node_id: str, params: BaseModel, context: Any) -> None:
        super().__init__(node_id, params, context)
        self._file: Any = None
        self._resampler: StreamingResampler | None = None
        self._pending = np.zeros((0, 1), dtype=np.float32)
        self._emitted = 0
        self._read_in = 0
        self._limit_in: int | None = None
        self._eof = False
        self.warnings: list[str] = []

    # -- set-up ------------------------------------------------------------------------------
    def _info(self) -> Any:
        import soundfile as sf

        path = Path(self.params.path)
        if not path.exists():
            if str(path) == "mic" or str(path).startswith("mic:"):
                raise InputError(f"{path}: this graph reads recordings only (its source is io.audio_file); for a live "
                                 "device use a graph whose source is io.audio_input, such as graphs/meeting.json")
            raise InputError(f"{path}: no such file")
        if path.is_dir():
            raise InputError(f"{path}: is a directory, not a recording")
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise InputError(f"{path}: cannot open ({exc.strerror or exc})") from None
        try:
            info = sf.info(str(path))
        except Exception as exc:  # libsndfile's errors: not audio, unsupported, corrupt header
            raise InputError(f"{path}: not a readable recording ({_reason(exc)})") from None
        if info.frames == 0 or info.samplerate <= 0:
            raise InputError(f"{path}: contains no audio (0 samples)")
        return info

    def configure(self, inputs: Mapping[str, StreamInfo]) -> Mapping[str, StreamInfo]:
        info = self._info()
        p = self.params
        n_channels = info.channels
        if p.channels is not None:
            bad = [c for c in p.channels if not 0 <= c < info.channels]
            if bad:
                raise InputError(f"{p.path}: has {info.channels} channel(s) (0-{info.channels - 1}); cannot select channel(s) {bad}")
            n_channels = len(p.channels)
        if p.expect_channels is not None and n_channels != p.expect_channels:
            raise InputError(f"{p.path}: has {n_channels} channel(s) but the graph expects {p.expect_channels}")
        self.in_rate = int(info.samplerate)
        self.rate = p.rate or self.in_rate
        self.n_channels = n_channels
        start_frame = int(round(p.start_s * self.in_rate))
        if start_frame >= info.frames:
            raise InputError(f"{p.path}: start_s={p.start_s} is past the end of the recording ({info.frames / self.in_rate:.2f} s)")
        self._start_frame = start_frame
        available = info.frames - start_frame
        if p.duration_s is not None:
            available = min(available, int(round(p.duration_s * self.in_rate)))
        self._limit_in = available
        self.duration = available / self.in_rate
        self._header_frames = info.frames
        # libsndfile sizes a cut-off WAV/AIFF by the data present and notes the mismatch.
        self._truncated_note = "should be" in (info.extra_info or "") and "data" in (info.extra_info or "")
        return {"audio": StreamInfo(rate=self.rate, channels=n_channels, duration_s=self.duration, extra={"path": p.path, "file_rate": self.in_rate})}

    def open(self) -> None:
        import soundfile as sf

        try:
            self._file = sf.SoundFile(self.params.path)
            if self._start_frame:
                self._file.seek(self._start_frame)
        except Exception as exc:
            raise InputError(f"{self.params.path}: cannot read ({_reason(exc)})") from None
        self._resampler = StreamingResampler(self.in_rate, self.rate, self.n_channels)
        self._block = max(1, int(round(self.rate * self.params.block_ms / 1000.0)))
        self._pending = np.zeros((0, self.n_channels), dtype=np.float32)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    # -- streaming -----------------------------------------------------------------------------
    def _read_input(self, frames: int) -> np.ndarray:
        """Up to ``frames`` input frames; empty at the end. Truncation ends the stream with a warning."""
        assert self._limit_in is not None
        frames = min(frames, self._limit_in - self._read_in)
        if frames <= 0:
            return np.zeros((0, self.n_channels), dtype=np.float32)
        try:
            data = self._file.read(frames, dtype="float32", always_2d=True)
        except Exception as exc:
            got = self._read_in / self.in_rate
            if self._read_in == 0:
                raise InputError(f"{self.params.path}: corrupt, nothing could be decoded ({_reason(exc)})") from None
            self._damaged(f"corrupt after {got:.2f} s ({_reason(exc)}); the audio before that was processed")
            self._limit_in = self._read_in
            return np.zeros((0, self.n_channels), dtype=np.float32)
        if self.params.channels is not None:
            data = data[:, self.params.channels]
        self._read_in += len(data)
        if len(data) < frames:
            self._limit_in = self._read_in
            if self._start_frame + self._read_in < self._header_frames and self.params.duration_s is None:
                self._damaged(f"truncated: the header announces {self._header_frames / self.in_rate:.2f} s but the audio "
                              f"ends at {(self._start_frame + self._read_in) / self.in_rate:.2f} s; what is there was processed")
        elif self._truncated_note and self._read_in >= self._limit_in and self.params.duration_s is None:
            self._damaged(f"truncated: the file is shorter than its header says; all {self._read_in / self.in_rate:.2f} s present were processed")
        if not np.isfinite(data).all():
            data = np.nan_to_num(data, nan=0.0, posinf=1.0, neginf=-1.0)
        return data

    def _damaged(self, what: str) -> None:
        """Record damage found mid-stream: the run goes on, the CLI warns and exits with 3."""
        msg = f"{self.params.path}: {what}"
        self.warnings.append(msg)
        self.context.log.warning(msg)
        self.context.summary.setdefault("input_damaged", []).append(msg)
        self.duration = self._read_in / self.in_rate

    def _emit_block(self, samples: np.ndarray) -> None:
        start = self._emitted
        self._emitted += len(samples)
        t0, t1 = media_time(start, self.rate), media_time(self._emitted, self.rate)
        ctx = self.context
        if ctx.realtime:
            t = time.perf_counter()
            paced = ctx.pace(t1)
            self.waited_s += time.perf_counter() - t  # waiting for the clock is not work
            if not paced:
                return
            ctx.clock.mark(t1, time.time())
        self.position = t1
        self.emit("audio", Packet(t0, t1, AudioBlock(samples, self.rate, start)))

    def read(self) -> bool:
        assert self._resampler is not None
        block = self._block
        while len(self._pending) < block and not self._eof:
            need_in = max(256, -(-(block - len(self._pending)) * self.in_rate // self.rate))
            data = self._read_input(need_in)
            if len(data) == 0:
                self._eof = True
                tail = self._resampler.flush()
                self._pending = np.concatenate([self._pending, tail])
                break
            out = self._resampler.process(data)
            if len(out):
                self._pending = np.concatenate([self._pending, out]) if len(self._pending) else out
        if len(self._pending) == 0:
            return False
        chunk, self._pending = self._pending[:block], self._pending[block:]
        self._emit_block(np.ascontiguousarray(chunk))
        if self.context.stop.is_set():
            return False
        return not (self._eof and len(self._pending) == 0)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    # libsndfile messages repeat the path; keep the part that says what is wrong.
    if "Error opening" in text and ":" in text:
        text = text.rsplit(":", 1)[-1].strip()
    return text
