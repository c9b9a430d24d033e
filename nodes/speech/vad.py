"""Voice activity detection node: cuts the audio stream into speech segments."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline import AudioBlock, ConfigError, In, Node, Out, Packet, SpeechAudio, StreamInfo, media_time

from .segmenter import Segmenter


class VadParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    threshold: float = Field(0.5, gt=0, lt=1, description="Speech probability that starts a segment.")
    neg_threshold: float | None = Field(None, gt=0, lt=1, description="Probability below which silence counts (default threshold - 0.15).")
    min_speech_ms: float = Field(250, ge=0, description="Segments with less speech than this are discarded.")
    min_silence_ms: float = Field(500, gt=0, description="Silence that ends a segment.")
    pad_ms: float = Field(200, ge=0, description="Audio kept before and after the detected speech.")
    max_segment_s: float = Field(25.0, ge=2, le=120, description="Longer segments are split at their quietest point.")
    emit_ms: float = Field(100, ge=0, description="Speech audio is sent downstream in chunks of at least this length.")
    model: str | None = Field(None, description="Path of a Silero VAD ONNX model; default: the one bundled with silero-vad.")

    @model_validator(mode="after")
    def _check(self) -> "VadParams":
        if self.min_silence_ms < self.pad_ms:
            raise ValueError("min_silence_ms must be at least pad_ms (a segment cannot end before its padding is heard)")
        return self


class SileroVadNode(Node):
    """Find speech with Silero VAD and send each segment's audio downstream as it unfolds.

    Speech audio leaves in chunks while the segment is still open, so a recogniser can
    show partial text early; the final chunk says where the segment ends. While there is no
    speech, the node advances its output watermark so that joins downstream do not wait.
    """

    type_name = "speech.vad"
    Params = VadParams
    inputs = {"audio": In(AudioBlock, "Mono audio at 16 kHz (or 8 kHz).")}
    outputs = {"speech": Out(SpeechAudio, "Chunks of speech segments; the last chunk of each is final.")}

    params: VadParams

    def __init__(self, node_id: str, params: BaseModel, context: Any) -> None:
        super().__init__(node_id, params, context)
        self._model: Any = None
        self._rate: int = 16000

    def configure(self, inputs: Mapping[str, StreamInfo]) -> Mapping[str, StreamInfo]:
        info = inputs.get("audio", StreamInfo())
        if info.channels is not None and info.channels != 1:
            raise ConfigError(f"needs mono audio but receives {info.channels} channels; put an audio.mixdown node in front")
        if info.rate is not None and info.rate not in (8000, 16000):
            raise ConfigError(f"Silero VAD works at 16000 or 8000 Hz but the audio is at {info.rate} Hz; set the source's rate to 16000")
        self._rate = info.rate or 16000
        return {"speech": info.with_(channels=1)}

    def open(self) -> None:
        self._start(self._rate)

    def _start(self, rate: int) -> None:
        from .silero_model import SileroVad

        p = self.params
        try:
            self._model = SileroVad(rate, p.model)
        except FileNotFoundError as exc:
            raise ConfigError(str(exc), "model") from None
        self._rate = rate
        frame = self._model.frame
        ms = rate / 1000.0
        neg = p.neg_threshold if p.neg_threshold is not None else max(p.threshold - 0.15, 0.01)
        self._seg = Segmenter(frame, p.threshold, neg, int(p.min_speech_ms * ms), int(p.min_silence_ms * ms), int(p.pad_ms * ms), int(p.max_segment_s * rate))
        self._frame = frame
        self._pad = int(p.pad_ms * ms)
        self._emit_min = int(p.emit_ms * ms)
        self._keep = int(p.max_segment_s * rate) // 2 + self._pad + frame
        self._hist = np.zeros(0, dtype=np.float32)  # recent audio
        self._hist_start = 0  # absolute sample index of _hist[0]
        self._frames_done = 0  # frames fed to the model
        self._stream_start: int | None = None
        self._seg_id = -1
        self._in_segment = False
        self._sent = 0  # absolute index up to which the current segment's audio was sent
        self._speech_start: int | None = None  # onset of the current segment's speech
        self._stamp = 0  # sample index of the last packet's t0

    # -- helpers ---------------------------------------------------------------------------------
    def _audio(self, a: int, b: int) -> np.ndarray:
        i, j = a - self._hist_start, b - self._hist_start
        return self._hist[max(i, 0) : max(j, 0)].copy()

    def _send(self, upto: int, final: bool = False, end: int | None = None, discard: bool = False, speech_end: int | None = None) -> None:
        a = self._sent
        samples = self._audio(a, upto) if upto > a else np.zeros(0, dtype=np.float32)
        self._sent = max(a, upto)
        rate = self._rate
        assert rate is not None
        pause = None
        if not final:
            p = self._seg.pause_start
            assert self._stream_start is not None  # set by the first block, before any segment
            pause = None if p is None else p + self._stream_start
        payload = SpeechAudio(
            self._seg_id, samples, rate, a, final=final, end=end, discard=discard,
            speech_start=self._speech_start, speech_end=speech_end, pause_start=pause,
        )
        # A split re-sends audio from before chunks already sent; the packet is stamped no
        # earlier than the stream's last packet (t0 never decreases), the payload keeps
        # the audio's true position.
        self._stamp = max(self._stamp, a)
        self.emit("speech", Packet(media_time(self._stamp, rate), media_time(max(self._sent, self._stamp), rate), payload))

    def _handle(self, events: list, frame_end: int) -> None:
        for ev in events:
            if ev.kind == "start":
                self._seg_id += 1
                self._in_segment = True
                self._sent = ev.sample
                self._speech_start = ev.speech
            else:
                self._send(max(ev.sample, self._sent), final=True, end=ev.sample, discard=ev.discard, speech_end=ev.speech)
                self._in_segment = False
        if self._in_segment and frame_end - self._sent >= self._emit_min:
            self._send(frame_end)

    # -- streaming ---------------------------------------------------------------------------------
    def process(self, port: str, packet: Packet) -> None:
        block: AudioBlock = packet.payload
        if block.rate != self._rate:  # no format was negotiated (a source that does not say)
            self._start(block.rate)
        x = block.samples[:, 0] if block.samples.ndim == 2 else block.samples
        if self._stream_start is None:
            self._stream_start = block.start
            self._hist_start = block.start
        self._hist = np.concatenate([self._hist, x.astype(np.float32, copy=False)])
        frame = self._frame
        base = self._stream_start
        end_abs = self._hist_start + len(self._hist)
        while base + (self._frames_done + 1) * frame <= end_abs:
            f = self._frames_done
            a = base + f * frame
            prob = self._model(self._hist[a - self._hist_start : a - self._hist_start + frame])
            self._frames_done += 1
            events = self._seg.step(f, prob)
            # the segmenter counts from the first sample of the stream
            events = [ev.shifted(base) for ev in events]
            self._handle(events, a + frame)
        if not self._in_segment:
            self.advance("speech", media_time(max(base + self._frames_done * frame - self._pad, 0), block.rate))
        # Keep only the audio a future segment could still need.
        low = min(self._sent if self._in_segment else end_abs, end_abs - self._keep)
        cut = low - self._hist_start
        if cut > 0:
            self._hist = self._hist[cut:]
            self._hist_start = low

    def flush(self) -> None:
        if self._stream_start is None:
            return
        total = self._hist_start + len(self._hist)
        events = self._seg.finish(total - self._stream_start)
        if events:
            if self._in_segment:
                self._send(total)
            ev = events[0].shifted(self._stream_start)
            self._send(self._sent, final=True, end=ev.sample, discard=ev.discard, speech_end=ev.speech)
            self._in_segment = False

    def close(self) -> None:
        self._model = None
