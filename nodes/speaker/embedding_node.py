"""Speaker embedding node: speech segments in, GE2E embeddings per sliding window and per segment out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline import ConfigError, Embedding, In, Node, Out, Packet, SpeechAudio, StreamInfo, media_time

from .encoder import SAMPLE_RATE, mel_spectrogram
from .pitch import window_pitch
from .timbre import RunningCmn, TimbreUbm, cepstra, loud_frames


class EmbeddingParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window_s: float = Field(1.5, gt=0.2, le=10, description="Length of a sliding window (s); the GE2E encoder was trained on 1.6 s.")
    hop_s: float = Field(0.5, gt=0.05, le=5, description="A new window every hop_s of speech: the time resolution of speaker labels (s).")
    first_s: float = Field(0.75, gt=0.2, le=10, description="The first window of a segment is sent once this much speech is in (s): "
                           "bounds how late the first label of a talker comes.")
    segments: bool = Field(True, description="Also embed each whole segment when it ends (port 'segments').")
    normalize: bool = Field(True, description="Raise quiet audio to the encoder's training loudness (-30 dBFS) first.")
    weights: str | None = Field(None, description="GE2E weights (pretrained.pt); default: the one bundled by resemblyzer.")
    threads: int = Field(1, ge=0, le=16, description="Torch threads for the encoder (0: leave torch's setting).")
    pitch: bool = Field(True, description="Also measure each window's pitch (median fundamental frequency of its voiced frames, "
                        "YIN): a voice cue that, unlike the embedding, does not move with where the talker stands.")
    timbre: bool = Field(True, description="Also send each window's new stretch's mel-cepstral statistics under the timbre "
                         "background model (nodes/speaker/timbre.py): a second voice cue for refinement, which tells apart "
                         "synthetic voices the encoder confuses.")

    @model_validator(mode="after")
    def _check(self) -> EmbeddingParams:
        if self.hop_s > self.window_s:
            raise ValueError("hop_s must not exceed window_s (windows would leave gaps)")
        if self.first_s > self.window_s:
            raise ValueError("first_s must not exceed window_s")
        return self


@dataclass
class _Seg:
    start: int  # absolute sample index of audio[0]
    audio: list[np.ndarray] = field(default_factory=list)
    length: int = 0
    labelled: int = 0  # samples (from start) already covered by a window's new part

    def samples(self, a: int, b: int) -> np.ndarray:
        x = np.concatenate(self.audio) if len(self.audio) > 1 else (self.audio[0] if self.audio else np.zeros(0, np.float32))
        self.audio = [x]
        return x[a:b]


class SpeakerEmbeddingNode(Node):
    """Embed speech with the GE2E speaker encoder that resemblyzer ships (256-d, L2-normalised).

    While a segment unfolds, a window of the last ``window_s`` of speech is embedded every
    ``hop_s`` (the first once ``first_s`` is in), so a diariser can label speech about
    ``first_s`` after it starts. Each window says which stretch it is the first to cover
    (``new_from`` .. ``end``): consecutive windows' new stretches tile the speech without gaps
    or overlaps, also where the VAD splits a long segment and sends its tail again. When the
    segment ends, its last stretch gets a window and, if asked, the whole segment an embedding
    of its own on port ``segments``.
    """

    type_name = "speaker.embedding"
    Params = EmbeddingParams
    heavy = True
    inputs = {"speech": In(SpeechAudio, "Speech segments from a voice activity detector (16 kHz mono).")}
    outputs = {
        "windows": Out(Embedding, "One embedding per sliding window (kind 'window'), in time order; kind 'end' (no audio): a "
                                  "segment closed on a silence before the point its windows had reached, at 'end'."),
        "segments": Out(Embedding, "One embedding per finished segment (kind 'segment')."),
    }

    params: EmbeddingParams

    def __init__(self, node_id: str, params: BaseModel, context: Any) -> None:
        super().__init__(node_id, params, context)
        self.encoder: Any = None
        self._open: dict[int, _Seg] = {}
        self._last = {"windows": 0.0, "segments": 0.0}
        self._covered = 0  # absolute sample up to which windows' new stretches reach (over all segments)
        self._ubm: TimbreUbm | None = None
        self._cmn = RunningCmn()

    def configure(self, inputs: Mapping[str, StreamInfo]) -> Mapping[str, StreamInfo]:
        info = inputs.get("speech", StreamInfo())
        if info.rate is not None and info.rate != SAMPLE_RATE:
            raise ConfigError(f"the speaker encoder needs 16000 Hz audio but receives {info.rate} Hz; set the source's rate to 16000")
        out = info.with_(rate=None, channels=None)
        return {"windows": out, "segments": out}

    def open(self) -> None:
        from .encoder import SpeakerEncoder

        try:
            self.encoder = SpeakerEncoder(self.params.weights, self.params.threads)
        except FileNotFoundError as exc:
            raise ConfigError(str(exc), "weights") from None
        p = self.params
        self._ubm = TimbreUbm.load() if p.timbre else None
        self._cmn = RunningCmn()
        self._win = int(p.window_s * SAMPLE_RATE)
        self._hop = int(p.hop_s * SAMPLE_RATE)
        self._first = int(p.first_s * SAMPLE_RATE)

    def close(self) -> None:
        self.encoder = None

    def _embed(self, x: np.ndarray) -> np.ndarray:
        if self.params.normalize:
            x = self.encoder.normalize_volume(x)
        return self.encoder.embed(x)

    def _pitch(self, x: np.ndarray) -> tuple[float | None, float]:
        return window_pitch(x, SAMPLE_RATE) if self.params.pitch else (None, 0.0)

    def _timbre(self, x: np.ndarray) -> np.ndarray | None:
        """Cepstral statistics of a window's new stretch ``x`` (``timbre.py``), its loud frames only."""
        if self._ubm is None:
            return None
        mel = mel_spectrogram(x)
        return self._ubm.stats(self._cmn(cepstra(mel)[loud_frames(mel)]))

    def _send(self, port: str, emb: Embedding) -> None:
        # A window's packet starts where its new stretch does (not where its audio does), so a
        # join downstream (the diariser's directions) is held back by hop_s, not by window_s.
        assert emb.new_from is not None and emb.end is not None
        t0 = max(emb.new_from, self._last[port])  # t0 never decreases on a stream (a VAD split re-sends audio)
        self._last[port] = t0
        self.emit(port, Packet(t0, max(emb.end, t0), emb))

    def _window(self, sid: int, seg: _Seg, upto: int) -> None:
        """Embed the window ending at ``upto`` (samples from the segment's start); its new part starts at ``seg.labelled``."""
        a = max(0, upto - self._win)
        audio = seg.samples(a, upto)
        vec = self._embed(audio)
        pitch, voiced = self._pitch(audio)
        timbre = self._timbre(seg.samples(seg.labelled, upto))
        rate = SAMPLE_RATE
        emb = Embedding(vec, segment_id=str(sid), kind="window", start=media_time(seg.start + a, rate),
                        end=media_time(seg.start + upto, rate), new_from=media_time(seg.start + seg.labelled, rate),
                        pitch=pitch, voiced_s=voiced, timbre=timbre)
        seg.labelled = upto
        self._covered = max(self._covered, seg.start + upto)
        self._send("windows", emb)

    def process(self, port: str, packet: Packet) -> None:
        chunk: SpeechAudio = packet.payload
        seg = self._open.get(chunk.segment_id)
        if seg is None:
            # A VAD split ends the open segment at a point already heard and re-sends the audio
            # after it as the next segment: windows sent before the split labelled that stretch,
            # so the new segment's windows start where they left off (each stretch gets one
            # label; labelling it twice gave the diariser two turns at once, scored as false
            # alarm). Its audio from the split on still gives the windows their context.
            seg = self._open[chunk.segment_id] = _Seg(chunk.start, labelled=max(0, self._covered - chunk.start))
        if len(chunk.samples):
            seg.audio.append(np.asarray(chunk.samples, dtype=np.float32))
            seg.length += len(chunk.samples)
        if not chunk.final:
            nxt = self._first if seg.labelled == 0 else seg.labelled + self._hop
            while seg.length >= nxt:
                self._window(chunk.segment_id, seg, nxt)
                nxt = seg.labelled + self._hop
            self._promise(packet.t1)
            return
        del self._open[chunk.segment_id]
        end = (chunk.end if chunk.end is not None else seg.start + seg.length) - seg.start
        end = min(end, seg.length)
        if chunk.discard or end <= 0:
            return
        if end > seg.labelled:  # the last stretch, however short, with a full window of context
            self._window(chunk.segment_id, seg, end)
        elif end < seg.labelled and chunk.speech_end is not None and not chunk.split:
            # It closed on a silence (a split closes on speech, and the next segment goes on from
            # the windows' point) before the point its windows reached while it was open: they
            # labelled silence the VAD waited through before closing it. Say where it closed.
            at = media_time(seg.start + end, SAMPLE_RATE)
            marker = Embedding(np.zeros(0, np.float32), segment_id=str(chunk.segment_id), kind="end", start=at, end=at, new_from=at)
            self._send("windows", marker)
        if self.params.segments and "segments" in self.wired:  # a whole segment costs up to 25 s of encoder input
            audio = seg.samples(0, end)
            vec = self._embed(audio)
            pitch, voiced = self._pitch(audio)
            self._send("segments", Embedding(vec, segment_id=str(chunk.segment_id), kind="segment",
                                             start=media_time(seg.start, SAMPLE_RATE), end=media_time(seg.start + end, SAMPLE_RATE),
                                             new_from=media_time(seg.start, SAMPLE_RATE), pitch=pitch, voiced_s=voiced))
        self._promise(packet.t1)

    def _promise(self, t_in: float) -> None:
        """Watermark: no later window starts before the oldest open segment's unlabelled stretch."""
        t = min((media_time(s.start + s.labelled, SAMPLE_RATE) for s in self._open.values()), default=t_in)
        t = max(t, self._last["windows"])
        self._last["windows"] = t
        self.advance("windows", t)

    def flush(self) -> None:
        for sid, seg in list(self._open.items()):
            if seg.length > seg.labelled:
                self._window(sid, seg, seg.length)
        self._open.clear()
