"""One source for a graph's audio: a recording or a live device, chosen by ``--input``.

Graphs take their audio from ``"input": "${input}"``, so the same graph runs on a file
(``--input meeting.wav``) or on a microphone array (``--input mic``, ``--input mic:NAME``,
``--input mic:3``), with no edit. The node delegates to ``io.audio_file`` or
``io.microphone``; the parameters they share (rate, block length, channel map, expected
channel count, duration) mean the same for both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field

from pipeline import AudioBlock, ConfigError, Out, Source, StreamInfo

from . import devices
from .audio_file import AudioFileParams, AudioFileSource
from .microphone import MicrophoneParams, MicrophoneSource


class AudioInputParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: str = Field(description="A recording's path, or a device: 'mic' (default input), 'mic:NAME' or 'mic:N' (see `meetflow devices`).")
    rate: int | None = Field(16000, ge=1000, le=384000, description="Output sample rate (resampled when the file or device differs). null keeps a file's rate.")
    block_ms: float = Field(20.0, gt=0, le=1000, description="Block length in milliseconds of output audio.")
    channels: list[int] | None = Field(None, description="Keep only these channels (0-based, in this order): the channel map. null keeps all.")
    expect_channels: int | None = Field(None, ge=1, description="Reject an input that does not deliver exactly this many channels (after 'channels').")
    duration_s: float | None = Field(None, gt=0, description="Read (or record) at most this much audio.")
    start_s: float = Field(0.0, ge=0, description="Recordings only: skip this much audio at the start.")
    device_channels: int | None = Field(None, ge=1, description="Devices only: channels to open (default: as the graph needs, else the device's own count).")
    latency: Literal["low", "high"] | float = Field("high", description="Devices only: buffering asked of PortAudio.")
    buffer_s: float = Field(10.0, gt=0, le=600, description="Devices only: audio held while the graph is busy before audio is lost (counted).")
    fill_gaps: bool = Field(True, description="Devices only: replace lost audio with silence so media time keeps pace with the meeting.")
    stall_timeout_s: float = Field(3.0, gt=0, description="Devices only: silence from the device for this long ends the run (device gone).")
    loss_tolerance_s: float = Field(0.1, gt=0, description="Devices only: a shortfall of audio against the wall clock larger than this, lasting a second, counts as lost.")


_FILE_ONLY = {"start_s"}
_DEVICE_ONLY = {"device_channels", "latency", "buffer_s", "fill_gaps", "stall_timeout_s", "loss_tolerance_s"}


class AudioInputSource(Source):
    """Audio from a recording or a live device, whichever ``input`` names.

    ``mic``/``mic:NAME``/``mic:N`` capture live (``io.microphone``: media time from the
    device's sample counter, overflows and clock drift reported); anything else is read as
    a recording (``io.audio_file``). A run with a live input uses the threaded executor
    and the graph's overload policies.
    """

    type_name = "io.audio_input"
    Params = AudioInputParams
    outputs = {"audio": Out(AudioBlock, "Blocks of float32 audio, shape (frames, channels).")}

    params: AudioInputParams

    @classmethod
    def live_for(cls, params: BaseModel) -> bool:
        return devices.is_device_spec(getattr(params, "input", None))

    @classmethod
    def files_read(cls, params: BaseModel) -> list[Path]:
        spec = getattr(params, "input", None)
        return [] if not isinstance(spec, str) or devices.is_device_spec(spec) else [Path(spec)]

    def __init__(self, node_id: str, params: BaseModel, context: Any) -> None:
        super().__init__(node_id, params, context)
        p = self.params
        given = p.model_fields_set
        inner: Source
        self._misfit: ConfigError | None = None
        if devices.is_device_spec(p.input):
            wrong = sorted(given & _FILE_ONLY)
            if wrong:
                self._misfit = ConfigError(f"{', '.join(wrong)} applies to recordings, not to a live device ({p.input})", wrong[0])
            mp = MicrophoneParams(
                device=devices.parse_device_spec(p.input), rate=p.rate or 16000, block_ms=p.block_ms, channels=p.channels,
                expect_channels=p.expect_channels, device_channels=p.device_channels, duration_s=p.duration_s, latency=p.latency,
                buffer_s=p.buffer_s, fill_gaps=p.fill_gaps, stall_timeout_s=p.stall_timeout_s, loss_tolerance_s=p.loss_tolerance_s,
            )
            inner = MicrophoneSource(node_id, mp, context)
        else:
            wrong = sorted(given & _DEVICE_ONLY)
            if wrong:
                self._misfit = ConfigError(f"{', '.join(wrong)} applies to live devices, not to a recording ({p.input})", wrong[0])
            fp = AudioFileParams(
                path=p.input, rate=p.rate, block_ms=p.block_ms, channels=p.channels, expect_channels=p.expect_channels,
                start_s=p.start_s, duration_s=p.duration_s,
            )
            inner = AudioFileSource(node_id, fp, context)
        # The inner source emits through this node's ports, which the executor binds.
        inner.emit = self.emit  # type: ignore[method-assign]
        inner.advance = self.advance  # type: ignore[method-assign]
        self.inner = inner
        self.live = inner.live  # type: ignore[misc]  # live or not as the source it wraps

    def configure(self, inputs: Mapping[str, StreamInfo]) -> Mapping[str, StreamInfo]:
        if self._misfit is not None:
            raise self._misfit
        outs = self.inner.configure(inputs)
        self.duration = self.inner.duration
        return outs

    def open(self) -> None:
        self.inner.open()
        self.duration = self.inner.duration

    def read(self) -> bool:
        more = self.inner.read()
        self.waited_s = self.inner.waited_s
        self.position = self.inner.position
        self.duration = self.inner.duration
        return more

    def flush(self) -> None:
        self.inner.flush()
        self.position = self.inner.position

    def close(self) -> None:
        self.inner.close()
