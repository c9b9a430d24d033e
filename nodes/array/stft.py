"""Streaming short-time Fourier transform of multichannel audio."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal, Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline import AudioBlock, ConfigError, In, Node, Out, Packet, Spectrum, StreamInfo, media_time

from .mics import OFF_KEY


class StreamingStft:
    """STFT over a stream of blocks: frame ``f`` covers samples ``[f * hop, f * hop + n_fft)``.

    Frames sit on a fixed grid of the source's sample counter whatever the block sizes, so
    the result does not depend on how audio was chunked (a test checks that). Returns
    complex64 bins of shape (frames, n_fft // 2 + 1, channels).
    """

    def __init__(self, n_fft: int = 512, hop: int = 256, window: str = "hann") -> None:
        self.n_fft = n_fft
        self.hop = hop
        if window == "hann":
            self.window = np.hanning(n_fft + 1)[:-1].astype(np.float32)  # periodic Hann
        elif window == "sqrt_hann":
            self.window = np.sqrt(np.hanning(n_fft + 1)[:-1]).astype(np.float32)
        else:
            self.window = np.ones(n_fft, dtype=np.float32)
        self._buf: np.ndarray | None = None
        self._buf_start = 0  # sample index of _buf[0]
        self.next_frame = 0

    def process(self, samples: np.ndarray, start: int) -> tuple[int, np.ndarray]:
        """Add a block starting at sample ``start``; return (first frame index, frames)."""
        if self._buf is None:
            self.next_frame = -(-start // self.hop)  # the first frame on the grid at or after `start`
            self._buf, self._buf_start = samples, start
        elif len(self._buf):
            self._buf = np.concatenate([self._buf, samples])
        else:
            self._buf = samples
        first = self.next_frame
        off = first * self.hop - self._buf_start
        avail = len(self._buf) - off
        count = 0 if avail < self.n_fft else 1 + (avail - self.n_fft) // self.hop
        if count == 0:
            return first, np.zeros((0, self.n_fft // 2 + 1, samples.shape[1]), dtype=np.complex64)
        idx = off + np.arange(count)[:, None] * self.hop + np.arange(self.n_fft)[None, :]
        frames = self._buf[idx]  # (count, n_fft, channels)
        frames = frames * self.window[None, :, None]
        bins = np.fft.rfft(frames, axis=1).astype(np.complex64)
        self.next_frame = first + count
        keep_from = self.next_frame * self.hop - self._buf_start
        self._buf = self._buf[keep_from:]
        self._buf_start += keep_from
        return first, bins


class StftParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_fft: int = Field(512, ge=16, le=16384, description="FFT length in samples (512 = 32 ms at 16 kHz).")
    hop: int = Field(256, ge=1, description="Samples between frame starts.")
    window: Literal["hann", "sqrt_hann", "rect"] = Field("hann", description="Analysis window.")

    @model_validator(mode="after")
    def _check(self) -> "StftParams":
        if self.n_fft % 2:
            raise ValueError("n_fft must be even")
        if self.hop > self.n_fft:
            raise ValueError(f"hop ({self.hop}) must not exceed n_fft ({self.n_fft})")
        return self


class Stft(Node):
    """Short-time Fourier transform of every channel, streamed frame by frame.

    Frames lie on a fixed grid of the source's sample counter, so their media times are exact
    and do not depend on the block size of the input. Each packet carries the frames that
    became complete with one input block (complex64, shape (frames, n_fft/2 + 1, channels)).
    Stands aside, like every array node, when the array stage before it does.
    """

    type_name = "array.stft"
    Params = StftParams
    inputs = {"audio": In(AudioBlock, "Multichannel audio.")}
    outputs = {"spectrum": Out(Spectrum, "STFT frames, shape (frames, freqs, channels).", lag=1.0)}

    params: StftParams

    def __init__(self, node_id: str, params: BaseModel, context: Any) -> None:
        super().__init__(node_id, params, context)
        self._stft: StreamingStft | None = None

    def configure(self, inputs: Mapping[str, StreamInfo]) -> Mapping[str, StreamInfo]:
        info = inputs.get("audio", StreamInfo())
        if info.extra.get(OFF_KEY):
            # The branch stands aside: no frames will come, so the input's progress passes
            # straight through (no frame lag), and joins below do not wait for it.
            self.outputs = {"spectrum": replace(type(self).outputs["spectrum"], lag=0.0)}  # type: ignore[misc]  # this node's own ports
            return {"spectrum": info}
        if info.rate is not None and self.params.n_fft / info.rate > 0.5:
            raise ConfigError(f"n_fft={self.params.n_fft} is {self.params.n_fft / info.rate:.2f} s at {info.rate} Hz; "
                              "keep frames under 0.5 s (the output lag bound)", "n_fft")
        extra = {**info.extra, "n_fft": self.params.n_fft, "hop": self.params.hop}
        return {"spectrum": info.with_(extra=extra)}

    def open(self) -> None:
        p = self.params
        self._stft = StreamingStft(p.n_fft, p.hop, p.window)

    def process(self, port: str, packet: Packet) -> None:
        block: AudioBlock = packet.payload
        assert self._stft is not None
        first, bins = self._stft.process(block.samples, block.start)
        if len(bins) == 0:
            return
        hop, n_fft, rate = self.params.hop, self.params.n_fft, block.rate
        t0 = media_time(first * hop, rate)
        t1 = media_time((first + len(bins) - 1) * hop + n_fft, rate)
        self.emit("spectrum", Packet(t0, t1, Spectrum(bins, rate, n_fft, hop, first)))
