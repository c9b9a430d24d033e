"""Dereverberation node: multichannel audio in, the same audio with its late reverberation removed out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline import AudioBlock, ConfigError, In, Node, Out, Packet, StreamInfo, media_time

from .wpe import OnlineWpe, WpeConfig

_W = WpeConfig()


class DereverbParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["wpe", "none"] = Field("wpe", description="wpe: online multichannel weighted prediction error; none: pass the "
                                           "audio through unchanged (to compare, or to spare the CPU).")
    taps: int = Field(_W.taps, ge=1, le=40, description="Prediction filter length in STFT frames (with hop 256 at 16 kHz, 5 taps "
                      "span 64-144 ms of the past: late reverberation).")
    delay: int = Field(_W.delay, ge=1, le=10, description="Frames skipped before the prediction taps, so the direct sound and "
                       "early reflections stay.")
    forget: float = Field(_W.forget, gt=0.5, lt=1.0, description="Forgetting factor per frame: how fast the filters follow a talker "
                          "who moves or takes over (0.99 at hop 256: a time constant of 1.6 s).")
    n_fft: int = Field(_W.n_fft, ge=64, le=4096, description="STFT length (samples); output lags input by n_fft - hop samples.")
    hop: int = Field(_W.hop, ge=16, le=2048, description="STFT hop (samples); n_fft must be a multiple of it.")
    loading: float = Field(_W.loading, ge=0, description="Diagonal loading of the filters' statistics, in frames of speech: keeps "
                           "a dead or duplicated microphone from making them diverge.")
    min_channels: int = Field(2, ge=1, le=64, description="With fewer input channels the audio passes through unchanged: "
                              "one-microphone WPE measured no gain for speaker embeddings.")
    max_channels: int = Field(8, ge=1, le=64, description="Most microphones used (evenly spread over the input's channels): the "
                              "cost grows with (channels x taps) squared.")

    @model_validator(mode="after")
    def _check(self) -> DereverbParams:
        if self.n_fft % self.hop:
            raise ValueError(f"n_fft ({self.n_fft}) must be a multiple of hop ({self.hop})")
        if self.n_fft % 2:
            raise ValueError("n_fft must be even")
        return self


def spread_channels(available: int, most: int) -> list[int]:
    """``most`` channel indices spread evenly over ``available`` (all of them when there are few enough)."""
    if available <= most:
        return list(range(available))
    return sorted({int(round(k * available / most)) for k in range(most)})


class Dereverb(Node):
    """Remove late reverberation from a microphone array's audio (online multichannel WPE).

    Weighted prediction error dereverberation (see ``wpe.py``) predicts each microphone's
    reverberant tail from the recent past of all microphones and subtracts it, adapting as
    talkers move and take turns. Speaker embeddings of dereverberated audio depend far less on
    where a talker stands (measured on simulated walking-talker meetings, see the README),
    which is why ``graphs/meeting.json`` feeds the speaker branch through it. Output sample
    ``n`` is input sample ``n`` dereverberated: media time is exact, ``n_fft - hop`` samples
    later. Fewer than ``min_channels`` channels pass through untouched.
    """

    type_name = "audio.dereverb"
    Params = DereverbParams
    inputs = {"audio": In(AudioBlock, "Multichannel audio (a microphone array).")}
    outputs = {"audio": Out(AudioBlock, "The same channels, dereverberated (only the microphones used, see max_channels).", lag=0.25)}

    params: DereverbParams

    def __init__(self, node_id: str, params: BaseModel, context: Any) -> None:
        super().__init__(node_id, params, context)
        self._wpe: OnlineWpe | None = None
        self._chans: list[int] | None = None
        self._next: int | None = None  # next input sample expected (the source's counter)
        self._out: int | None = None  # next output sample
        self._first = 0  # the first input sample the filters saw
        self._rate = 0

    def configure(self, inputs: Mapping[str, StreamInfo]) -> Mapping[str, StreamInfo]:
        info = inputs.get("audio", StreamInfo())
        if info.rate is not None and self.params.n_fft / info.rate > 0.25:
            raise ConfigError(f"n_fft={self.params.n_fft} is {self.params.n_fft / info.rate:.2f} s at {info.rate} Hz; keep it under "
                              "0.25 s (the output lag bound)", "n_fft")
        if info.channels is not None:
            self._chans = self._pick(info.channels)
            return {"audio": info.with_(channels=len(self._chans))}
        return {"audio": info}

    def _pick(self, channels: int) -> list[int]:
        return spread_channels(channels, self.params.max_channels) if channels >= self.params.min_channels else list(range(channels))

    def process(self, port: str, packet: Packet) -> None:
        block: AudioBlock = packet.payload
        if self._chans is None or max(self._chans) >= block.channels:
            self._chans = self._pick(block.channels)
        x = block.samples[:, self._chans] if len(self._chans) != block.channels else block.samples
        if self.params.method == "none" or len(self._chans) < self.params.min_channels:
            self.emit("audio", packet if x is block.samples else Packet(packet.t0, packet.t1, AudioBlock(x, block.rate, block.start)))
            return
        if self._wpe is None:
            p = self.params
            self._wpe = OnlineWpe(len(self._chans), WpeConfig(n_fft=p.n_fft, hop=p.hop, taps=p.taps, delay=p.delay, forget=p.forget,
                                                            loading=p.loading))
            self._first = self._next = self._out = block.start
            self._rate = block.rate
        assert self._next is not None
        if block.start > self._next:  # a gap in the stream: silence keeps output samples on the input's counter
            self._send(self._wpe.process(np.zeros((block.start - self._next, x.shape[1]), dtype=np.float32)))
            self._next = block.start
        elif block.start < self._next:  # overlap with what came before: only the new part
            x = x[self._next - block.start:]
        self._next += len(x)
        self._send(self._wpe.process(x))

    def _send(self, y: np.ndarray) -> None:
        if not len(y):
            return
        assert self._out is not None
        a = self._out
        self._out += len(y)
        self.emit("audio", Packet(media_time(a, self._rate), media_time(self._out, self._rate), AudioBlock(y, self._rate, a)))

    def flush(self) -> None:
        if self._wpe is not None and self._next is not None:
            self._send(self._wpe.flush(self._next - self._first))
