"""The cascade's first pass: pocketsphinx partials within a few hundred milliseconds, and endpointing."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline import ConfigError, In, Node, Out, Packet, SpeechAudio, StreamInfo, TranscriptUpdate, Word, media_time

from .drafts import Draft, DraftSpeech
from .sphinx_model import SAMPLE_RATE


class SphinxParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vocabulary: list[str] = Field([], description="Custom words and phrases to favour (names, jargon); each gets a dictionary entry and a language-model unigram.")
    vocabulary_file: str | None = Field(None, description="UTF-8 file with one vocabulary word or phrase per line (# starts a comment).")
    vocabulary_boost: float = Field(1.0, gt=0, description="Weight of vocabulary entries in the language model (relative to a uniform unigram).")
    endpoint_ms: float = Field(
        250, ge=0, description="A pause this long (as the voice activity detector hears it, while the decoder adds no word) ends the utterance, "
        "so the second pass can start before the detector closes its segment. 0: utterances end only with the detector's segments."
    )
    end_pad_ms: float = Field(200, ge=0, le=1000, description="Audio kept after the last speech sample when the first pass ends an utterance itself.")
    preroll_ms: float = Field(200, ge=0, le=1000, description="Audio kept before speech that resumes after such an early end.")
    partial_interval_ms: float = Field(100, ge=0, description="Least media time between two partial results of an utterance (the first is sent at once).")
    finals: bool = Field(False, description="Also publish the first pass's own final text on the transcript port (for a first-pass-only transcript).")
    hmm: str | None = Field(None, description="Acoustic model folder; default: pocketsphinx's bundled en-us.")
    lm: str | None = Field(None, description="Language model file; default: pocketsphinx's bundled en-us.")
    dictionary: str | None = Field(None, description="Pronunciation dictionary; default: pocketsphinx's bundled CMUdict.")


@dataclass
class _Utterance:
    uid: int
    start: int  # absolute sample of the utterance's first audio
    speech_start: int
    text: str = ""
    changed_at: int = 0  # sample at which the hypothesis last changed
    revision: int = 0
    partial_at: int | None = None  # sample of the last published partial
    samples: int = 0
    last_end: int = 0


@dataclass
class _Idle:
    """Audio heard after an early end, kept as pre-roll in case speech resumes."""

    chunks: list[tuple[int, np.ndarray]] = field(default_factory=list)


class SphinxFirstPass(Node):
    """Recognise speech segments with pocketsphinx as they unfold (the HEC cascade's first pass).

    Takes the voice activity detector's speech chunks and decodes them at once (~5 ms per
    20-32 ms chunk), publishing partial text a few hundred milliseconds into speech.
    It cuts utterances itself: a pause of ``endpoint_ms`` inside a detector segment, during
    which the decoder adds no word, ends the utterance (the detector waits longer before it
    closes a segment). Its ``speech`` output carries each utterance's audio with the draft
    text (``DraftSpeech``) to a second pass (``asr.hec``), which turns the drafts into
    partials and decodes the finals; ``transcript`` carries the first pass's own partials
    (and finals with ``finals: true``) for graphs without a second pass.
    """

    type_name = "asr.sphinx"
    Params = SphinxParams
    heavy = True
    inputs = {"speech": In(SpeechAudio, "Speech segments from a voice activity detector (16 kHz mono).")}
    outputs = {
        "speech": Out(DraftSpeech, "The utterances' audio with the first pass's draft text (for asr.hec).", lag=0.0),
        "transcript": Out(TranscriptUpdate, "First-pass partials (and finals with finals: true).", lag=0.0),
    }

    params: SphinxParams

    def __init__(self, node_id: str, params: BaseModel, context: Any) -> None:
        super().__init__(node_id, params, context)
        self.recognizer: Any = None

    def configure(self, inputs: Mapping[str, StreamInfo]) -> Mapping[str, StreamInfo]:
        info = inputs.get("speech", StreamInfo())
        if info.rate is not None and info.rate != SAMPLE_RATE:
            raise ConfigError(f"pocketsphinx's en-us model needs 16000 Hz audio but receives {info.rate} Hz; set the source's rate to 16000")
        return {"speech": info, "transcript": info.with_(rate=None, channels=None)}

    def open(self) -> None:
        from .sphinx_model import SphinxRecognizer
        from .vocabulary import Vocabulary

        p = self.params
        try:
            self.vocabulary = Vocabulary.load(p.vocabulary, p.vocabulary_file)
        except FileNotFoundError as exc:
            raise ConfigError(str(exc), "vocabulary_file") from None
        except ValueError as exc:
            raise ConfigError(str(exc), "vocabulary_file") from None
        try:
            self.recognizer = SphinxRecognizer(self.vocabulary, p.hmm, p.lm, p.dictionary, p.vocabulary_boost)
        except FileNotFoundError as exc:
            raise ConfigError(str(exc), "hmm") from None
        except (RuntimeError, ValueError) as exc:  # pocketsphinx: a model that does not load
            raise ConfigError(f"pocketsphinx cannot load its model: {exc}", "hmm") from None
        ms = SAMPLE_RATE / 1000.0
        self._endpoint = int(p.endpoint_ms * ms)
        self._end_pad = int(p.end_pad_ms * ms)
        self._preroll = int(p.preroll_ms * ms)
        self._interval = int(p.partial_interval_ms * ms)
        self._utt: _Utterance | None = None
        self._vad_seg: int | None = None
        self._idle = _Idle()
        self._ended_early = False  # an utterance of the current detector segment ended on a pause
        self._next_uid = 0
        self._last_key: str | None = None
        self._heard = 0  # absolute sample up to which the detector's audio has come in (over all its segments)
        self._resent_until = 0  # after a split: the next segment's audio before this was decoded already

    def close(self) -> None:
        self.recognizer = None

    # -- helpers ------------------------------------------------------------------------------------
    def _key(self, uid: int) -> str:
        return f"{self.id}-{uid:05d}"

    def _begin(self, start: int, speech_start: int) -> _Utterance:
        self._utt = _Utterance(self._next_uid, start, speech_start, changed_at=start, last_end=start)
        self._next_uid += 1
        self._last_key = self._key(self._utt.uid)
        self.recognizer.start()
        return self._utt

    def _publish(self, u: _Utterance, status: str, text: str, words: list[Word], end: int, at: float, speech_end: int | None = None) -> None:
        u.revision += 1
        t0 = media_time(u.start, SAMPLE_RATE)
        t1 = media_time(max(end, u.start), SAMPLE_RATE)
        if words:
            t0, t1 = words[0].t0, max(w.t1 for w in words)
        upd = TranscriptUpdate(
            self._key(u.uid), status, t0, t1, text, words, revision=u.revision,  # type: ignore[arg-type]
            speech_t0=media_time(u.speech_start, SAMPLE_RATE),
            speech_t1=None if speech_end is None else media_time(speech_end, SAMPLE_RATE),
        )
        self.emit("transcript", Packet(at, at, upd))

    def _forward(self, packet: Packet, u: _Utterance, start: int, samples: np.ndarray, final: bool = False, end: int | None = None,
                 speech_end: int | None = None, discard: bool = False, words: list[Word] | None = None, closed: bool = False) -> None:
        draft = Draft(self._key(u.uid), u.text, list(words or []), closed)
        payload = DraftSpeech(
            u.uid, samples, SAMPLE_RATE, start, final=final, end=end, discard=discard,
            speech_start=u.speech_start, speech_end=speech_end, draft=draft,
        )
        self.emit("speech", Packet(packet.t0, packet.t1, payload))

    def _finish(self, u: _Utterance) -> list[Word]:
        res = self.recognizer.finish()
        base = media_time(u.start, SAMPLE_RATE)
        words = [Word(w.text, base + w.t0, base + w.t1, None) for w in res.words]
        u.text = res.text
        return words

    # -- streaming ------------------------------------------------------------------------------------
    def process(self, port: str, packet: Packet) -> None:
        chunk: SpeechAudio = packet.payload
        at = packet.t1
        if chunk.start < self._resent_until and len(chunk.samples):
            # After a split: the detector closed a segment that reached max_segment_s at a point
            # already sent and sends the audio after it again as the next segment. The first pass
            # decoded that audio already (in the utterance the split closes, which keeps it, or in
            # one it had ended on a pause): decoding it twice gave the meeting two finals with the
            # same words.
            k = min(self._resent_until - chunk.start, len(chunk.samples))
            chunk = replace(chunk, samples=chunk.samples[k:], start=chunk.start + k)
        self._heard = max(self._heard, chunk.start + len(chunk.samples))
        if chunk.split and chunk.end is not None and chunk.end < self._heard:
            self._resent_until = self._heard  # the next segment's copy of what was heard past the split is dropped (above)
        if chunk.segment_id != self._vad_seg:
            self._vad_seg = chunk.segment_id
            self._ended_early = False
            self._idle = _Idle()
            if self._utt is None:
                self._begin(chunk.start, chunk.speech_start if chunk.speech_start is not None else chunk.start)
        u = self._utt
        chunk_end = chunk.start + len(chunk.samples)
        if u is None:  # after an early end, inside the same detector segment
            if chunk.final:
                # The detector closed the segment: tell the second pass nothing more comes.
                if self._last_key is not None:
                    last = _Utterance(self._next_uid - 1, chunk.start, chunk.start)
                    self._forward(packet, last, chunk_end, np.zeros(0, dtype=np.float32), final=True, end=chunk_end, discard=True, closed=True)
                return
            if chunk.pause_start is not None:  # still silent: keep as pre-roll
                self._idle.chunks.append((chunk.start, chunk.samples))
                keep: list[tuple[int, np.ndarray]] = []
                total = 0
                for s, x in reversed(self._idle.chunks):
                    keep.insert(0, (s, x))
                    total += len(x)
                    if total >= self._preroll:
                        break
                self._idle.chunks = keep
                return
            # Speech resumed: a new utterance, with some of the pause before it.
            pre = [x for _, x in self._idle.chunks]
            pre_audio = np.concatenate(pre)[-self._preroll :] if pre and self._preroll else np.zeros(0, dtype=np.float32)
            start = chunk.start - len(pre_audio)
            u = self._begin(start, chunk.start)
            samples = np.concatenate([pre_audio, chunk.samples]) if len(pre_audio) else chunk.samples
            self._idle = _Idle()
            self._decode(packet, u, start, samples, chunk, at)
            return
        self._decode(packet, u, chunk.start, chunk.samples, chunk, at)

    def _decode(self, packet: Packet, u: _Utterance, start: int, samples: np.ndarray, chunk: SpeechAudio, at: float) -> None:
        end = start + len(samples)
        final = chunk.final
        close, speech_end = chunk.end, chunk.speech_end
        if chunk.split and close is not None and close < self._resent_until:
            # Split inside speech: the utterance keeps what it heard past the split point (process
            # drops the next segment's copy of it).
            close = speech_end = self._resent_until
        if final and close is not None:
            samples = samples[: max(close - start, 0)]
            end = start + len(samples)
        text = self.recognizer.feed(samples) if len(samples) else u.text
        u.samples += len(samples)
        u.last_end = end
        if text != u.text:
            u.text = text
            u.changed_at = end
            due = u.partial_at is None or end - u.partial_at >= self._interval
            if text and due and not final:
                u.partial_at = end
                self._publish(u, "partial", text, [], end, at)
        if final:
            words = self._finish(u)
            self._utt = None
            closed = True
            if self.params.finals and (words or u.revision):
                self._publish(u, "final", u.text, words, end, at, speech_end)
            self._forward(packet, u, start, samples, final=True, end=close, speech_end=speech_end, discard=chunk.discard, words=words,
                          closed=closed)
            return
        pause = chunk.pause_start
        if (
            self._endpoint
            and pause is not None
            and u.text
            and end - pause >= self._endpoint
            and end - u.changed_at >= self._endpoint // 2
        ):
            # The speaker paused long enough and the decoder agrees nothing more was said.
            cut = min(pause + self._end_pad, end)
            keep = max(cut - start, 0)
            words = self._finish(u)
            self._utt = None
            self._ended_early = True
            if self.params.finals:
                self._publish(u, "final", u.text, words, cut, at, pause)
            self._forward(packet, u, start, samples[:keep], final=True, end=cut, speech_end=pause, words=words)
            self._idle = _Idle([(cut, samples[keep:])]) if keep < len(samples) else _Idle()
            return
        self._forward(packet, u, start, samples)

    def flush(self) -> None:
        # The detector always closes its segments; another producer might not.
        u = self._utt
        if u is None:
            return
        words = self._finish(u)
        self._utt = None
        at = media_time(u.last_end, SAMPLE_RATE)
        pkt = Packet(at, at, None)
        if self.params.finals:
            self._publish(u, "final", u.text, words, u.last_end, at)
        self._forward(pkt, u, u.last_end, np.zeros(0, dtype=np.float32), final=True, end=u.last_end, words=words, closed=True)
