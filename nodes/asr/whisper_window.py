"""Low-latency Whisper decoding of one speech segment: short windows, left context, token probabilities.

``whisper_model.decode`` goes through faster-whisper's ``transcribe()``, which pads every
call to a 30 s window: the encoder then costs ~0.35-0.5 s on 2 cores however short the
speech, which is most of a streaming final's latency budget. This module drives the
CTranslate2 model directly:

* **Short windows.** The encoder runs on the audio actually present plus ``pad_s`` of
  silence (measured: 10 s of audio encode in ~0.05 s instead of ~0.4 s). Without the pad,
  tiny.en loops at the end of a window ("... meeting. Good morning ... meeting."); with a
  few seconds of silence after the speech it stops like it does in a 30 s window.
  Words that DTW alignment places inside the pad are hallucinations and are cut.
* **Left context.** Isolated short segments lose accuracy (measured on the generated
  benchmark meeting: 7.1% WER per isolated turn against 3.5% for whole-recording
  decoding). The window therefore starts with the audio of the previous segments and
  their final text is forced as the decoder's prefix: Whisper hears and reads what was
  just said and continues from there (3.1-4.7% on the same turns), the way it does inside
  a long recording.
* **Guards.** A decode that looks broken (repetitive text, very low log probability,
  far too many words for the audio) is redone the conservative way: a full 30 s window
  without the forced prefix.
* **Early stops and spill-over.** tiny.en sometimes ends a segment's text early (often where
  a second talker comes in), leaving seconds of speech untranscribed; the next segment's
  decode, whose window starts with that audio under a prefix that does not cover it, then
  transcribes it there (measured in a generated meeting: 19 words of a 6 s turn published in
  the next segment, all at its first instant, under the next talker). So a segment whose
  words end ``tail_s`` or more before its audio does has its tail decoded again, with the
  words so far as the forced prefix (``tail_decodes``), and words placed ``spill_s`` or more
  inside the left context are cut (a word just before the boundary is kept: it was spoken
  across it, and the previous final had cut it off).
* **Token probabilities and word times** come from CTranslate2's ``align`` (cross-attention
  DTW, the same computation faster-whisper's ``word_timestamps`` use), conditioned on the
  forced prefix: per word, the mean and the minimum token probability, for the confidence
  emitter.

Usable without the engine.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

SAMPLE_RATE = 16000
#: Whisper's native window.
WINDOW_S = 30.0
_PUNCT_AFTER = set("\"'.。,，!！?？:：”)]}、")
_PUNCT_BEFORE = set("\"'“¿([{-")


@dataclass
class WindowOptions:
    beam_size: int = 5
    #: Seconds of previous segments' audio (with their text as forced prefix) before the segment.
    context_s: float = 10.0
    #: Silence appended after the audio before encoding (see the module docstring).
    pad_s: float = 5.0
    #: Always encode a full 30 s window (Whisper's native behaviour; slower, no pad effects).
    full_window: bool = False
    #: Text that primes the decoder before everything else (a glossary, names).
    prompt: str | None = None
    #: Word and token probabilities and word times (one extra ``align`` pass).
    word_details: bool = True
    #: Guards (Whisper's usual thresholds).
    compression_ratio_threshold: float = 2.4
    log_prob_threshold: float = -1.0
    no_speech_threshold: float = 0.6
    #: Generated tokens allowed per second of audio (plus 10): stops runaway loops early.
    max_tokens_per_s: float = 10.0
    #: Runner-up hypotheses of the beam to return (word-confidence evidence: words the
    #: runners-up disagree on are uncertain). Costs nothing extra within the beam.
    alternatives: int = 2
    #: Audio left after the last word (s) that counts as an early stop: the VAD ends a segment
    #: at most 0.7 s after its speech (0.5 s of silence, 0.2 s kept), so more is speech unheard.
    tail_s: float = 1.0
    #: How many times one segment's untranscribed tail is decoded again (0: never; needs word_details).
    tail_decodes: int = 2
    #: A word whose time ends this far (s) or more before the segment starts was heard in the left
    #: context: cut. Nearer, it is a word spoken across the boundary (kept, at the segment's start).
    spill_s: float = 1.0


@dataclass
class Context:
    """A finished earlier segment: its audio and the text it was finalised with."""

    audio: np.ndarray
    text: str


@dataclass
class WindowWord:
    """A decoded word; times in seconds from the start of the segment's audio."""

    text: str
    t0: float
    t1: float
    probability: float = 1.0  # mean token probability
    min_probability: float = 1.0
    tokens: int = 1


@dataclass
class WindowResult:
    text: str
    words: list[WindowWord] = field(default_factory=list)
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 1.0
    #: How the result was obtained: "window" (short window), "full" (30 s), "fallback"
    #: (a short-window decode failed a guard and was redone in a full window).
    path: str = "window"
    truncated: bool = False  # words placed in the pad were cut
    context_words: int = 0
    spilled: int = 0  # words placed in the left context, cut (they transcribe an earlier segment's audio)
    tails: int = 0  # untranscribed tails decoded again (early stops)
    alternatives: list[str] = field(default_factory=list)  # runner-up hypotheses' texts


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / max(len(zlib.compress(data)), 1)


class WindowDecoder:
    """Decode segments with a loaded faster-whisper ``WhisperModel`` (uses its CTranslate2 model)."""

    def __init__(self, model: Any, language: str | None = "en") -> None:
        from faster_whisper.tokenizer import Tokenizer

        self.model = model
        self.ct2 = model.model
        multilingual = bool(self.ct2.is_multilingual)
        self.tokenizer = Tokenizer(model.hf_tokenizer, multilingual, task="transcribe", language=(language or "en") if multilingual else "en")
        self.max_length = 448
        self.frames_per_s = SAMPLE_RATE / model.feature_extractor.hop_length  # mel frames (100/s)
        self.tokens_per_s = self.frames_per_s / 2  # encoder positions (50/s)

    # -- pieces -----------------------------------------------------------------------------------
    def _encode(self, audio: np.ndarray, pad_s: float, full: bool) -> tuple[Any, int]:
        """Encoder output for ``audio`` and the number of mel frames holding audio."""
        import ctranslate2

        fe = self.model.feature_extractor
        n_content = len(audio) // fe.hop_length
        if full:
            total = int(WINDOW_S * SAMPLE_RATE)
            x = np.zeros(max(total, len(audio)), dtype=np.float32)
            x[: len(audio)] = audio
            feats = fe(x[:total])[:, : int(WINDOW_S * self.frames_per_s)]
        else:
            x = np.concatenate([audio.astype(np.float32, copy=False), np.zeros(int(pad_s * SAMPLE_RATE), dtype=np.float32)])
            feats = fe(x)
            n = min(feats.shape[-1] - 1, int(WINDOW_S * self.frames_per_s))
            feats = feats[:, : n - n % 2]
        storage = ctranslate2.StorageView.from_array(np.ascontiguousarray(feats[None], dtype=np.float32))
        return self.ct2.encode(storage, to_cpu=False), min(n_content, feats.shape[-1])

    def _tokens(self, text: str, limit: int) -> list[int]:
        toks = self.tokenizer.encode(" " + text.strip()) if text.strip() else []
        return toks[-limit:] if limit > 0 else []

    def _prompt(self, prompt_text: str, prefix: list[int]) -> list[int]:
        tk = self.tokenizer
        out: list[int] = []
        head = self._tokens(prompt_text, self.max_length // 2 - 1)
        if head:
            out = [tk.sot_prev] + head
        return out + list(tk.sot_sequence) + [tk.no_timestamps] + prefix

    def _generate(self, enc: Any, prompt: list[int], prefix: list[int], beam: int, seconds: float, opts: WindowOptions) -> tuple[list[int], float, float, list[list[int]]]:
        max_new = int(opts.max_tokens_per_s * seconds) + 10
        # CTranslate2 counts the forced prefix (which it returns) against max_length as well.
        max_length = min(self.max_length, len(prompt) + len(prefix) + max_new)
        n_hyp = max(1, min(opts.alternatives + 1, beam))
        res = self.ct2.generate(
            enc,
            [prompt],
            beam_size=beam,
            num_hypotheses=n_hyp,
            max_length=max_length,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=[-1],
        )[0]
        seqs = []
        for ids in res.sequences_ids:
            toks = list(ids)
            if prefix and toks[: len(prefix)] == prefix:  # CTranslate2 returns the forced prefix too
                toks = toks[len(prefix) :]
            seqs.append([t for t in toks if t < self.tokenizer.eot])
        n = max(len(seqs[0]), 1)
        avg = float(res.scores[0]) * n / (n + 1) if res.scores else 0.0
        return seqs[0], avg, float(res.no_speech_prob), seqs[1:]

    # -- the decode --------------------------------------------------------------------------------
    def decode(self, audio: np.ndarray, options: WindowOptions, context: Sequence[Context] = (), history: str = "") -> WindowResult:
        """Decode ``audio`` (one segment, 16 kHz mono) after ``context`` (older first).

        ``history`` is older transcript text (before the context), used as prompt. Where the
        words stop ``tail_s`` or more before the audio does, the rest is decoded again after
        what was heard so far (an early stop; see the module docstring), up to ``tail_decodes`` times.
        """
        audio = np.asarray(audio, dtype=np.float32)
        result = self._decode_once(audio, options, context, history)
        if not options.word_details:
            return result
        seconds = len(audio) / SAMPLE_RATE
        for _ in range(options.tail_decodes):
            cut = covered_until(result.words)
            if cut is None or seconds - cut < options.tail_s:
                break
            k = int(round(cut * SAMPLE_RATE))
            more = self._decode_once(audio[k:], options, [*context, Context(audio[:k], result.text)], history)
            if not more.words:
                break
            result = _joined(result, more, k / SAMPLE_RATE)
        return result

    def _decode_once(self, audio: np.ndarray, options: WindowOptions, context: Sequence[Context], history: str) -> WindowResult:
        """One decode of ``audio`` after ``context`` (with the guards' retry), no tail decoding."""
        seconds = len(audio) / SAMPLE_RATE
        if seconds <= 0:
            return WindowResult("")
        # Left context: the most recent pieces that fit, joined by short gaps.
        gap = np.zeros(int(0.3 * SAMPLE_RATE), dtype=np.float32)
        budget = int(min(options.context_s, WINDOW_S - options.pad_s - seconds - 0.5) * SAMPLE_RATE) if not options.full_window else 0
        pieces: list[Context] = []
        used = 0
        for c in reversed(list(context)):
            if not c.text.strip() or used + len(c.audio) + len(gap) > budget:
                break
            pieces.insert(0, c)
            used += len(c.audio) + len(gap)
        older = " ".join(x for x in (options.prompt, history) if x)
        if pieces:
            window = np.concatenate([x for c in pieces for x in (c.audio.astype(np.float32, copy=False), gap)] + [audio])
            prefix_text = " ".join(c.text.strip() for c in pieces)
        else:
            window, prefix_text = audio, ""
        offset = (len(window) - len(audio)) / SAMPLE_RATE
        full = options.full_window or len(window) / SAMPLE_RATE + options.pad_s > WINDOW_S
        result = self._decode_window(window, offset, seconds, prefix_text, older, options, full)
        if self._suspicious(result, seconds, options) and not full:
            retry = self._decode_window(audio, 0.0, seconds, "", " ".join(x for x in (older, prefix_text) if x), options, True)
            if not self._suspicious(retry, seconds, options) or retry.avg_logprob >= result.avg_logprob:
                retry.path = "fallback"
                result = retry
        if result.no_speech_prob > options.no_speech_threshold and result.avg_logprob < options.log_prob_threshold:
            return WindowResult("", [], result.avg_logprob, result.no_speech_prob, result.compression_ratio, result.path)
        return result

    def _suspicious(self, r: WindowResult, seconds: float, o: WindowOptions) -> bool:
        words = len(r.text.split())
        return r.compression_ratio > o.compression_ratio_threshold or r.avg_logprob < o.log_prob_threshold or words > 6.0 * seconds + 4

    def _decode_window(self, window: np.ndarray, offset: float, seconds: float, prefix_text: str, prompt_text: str, o: WindowOptions, full: bool) -> WindowResult:
        enc, n_frames = self._encode(window, o.pad_s, full)
        prefix = self._tokens(prefix_text, self.max_length // 2 - 1)
        prompt = self._prompt(prompt_text, prefix)
        toks, avg, no_speech, alts = self._generate(enc, prompt, prefix, o.beam_size, seconds, o)
        text = self.tokenizer.decode(toks).strip()
        result = WindowResult(text, [], avg, no_speech, compression_ratio(text) if text else 1.0, "full" if full else "window", context_words=len(prefix_text.split()))
        result.alternatives = [self.tokenizer.decode(a).strip() for a in alts]
        if not toks:
            result.text = ""
            return result
        if o.word_details:
            start = list(self.tokenizer.sot_sequence) + [self.tokenizer.no_timestamps] + prefix
            result.words = self._words(enc, start, toks, n_frames, offset)
            # Cross-attention alignment parks a leading word or two at the window's very start (t1 near
            # -offset) when it cannot place them: those are this segment's; a word ending inside the
            # context's audio, past its start, was heard there.
            inside = [w for w in result.words if not -offset + 0.3 < w.t1 < -o.spill_s]
            if prefix_text and len(inside) < len(result.words):
                result.spilled = len(result.words) - len(inside)
                result.words = inside
                result.text = " ".join(w.text for w in inside)
            end = seconds + 0.3
            kept = [w for w in result.words if w.t0 < end]
            if len(kept) < len(result.words):
                result.truncated = True
                result.words = kept
                result.text = " ".join(w.text for w in kept)
            for w in result.words:
                w.t0 = min(max(w.t0, 0.0), seconds)
                w.t1 = min(max(w.t1, w.t0), seconds)
        else:
            result.words = [WindowWord(w, 0.0, 0.0) for w in text.split()]
        return result

    def _words(self, enc: Any, start: list[int], toks: list[int], n_frames: int, offset: float) -> list[WindowWord]:
        """Split tokens into words with DTW times (relative to the segment) and token probabilities."""
        tk = self.tokenizer
        try:
            al = self.ct2.align(enc, start, [toks], max(n_frames, 1))[0]
        except RuntimeError:  # a prompt past the model's positions: words without times
            return [WindowWord(w, 0.0, 0.0) for w in tk.decode(toks).split()]
        probs = np.asarray(al.text_token_probs, dtype=np.float64)
        pairs = np.asarray(al.alignments, dtype=np.int64).reshape(-1, 2)
        words, word_tokens = tk.split_to_word_tokens(toks + [tk.eot])
        if len(pairs):
            jumps = np.concatenate([[True], np.diff(pairs[:, 0]) > 0])
            jump_times = pairs[jumps, 1] / self.tokens_per_s
        else:
            jump_times = np.zeros(len(toks) + 1)
        out: list[WindowWord] = []
        i = 0
        for word, wt in zip(words, word_tokens):
            j = i + len(wt)
            real = [t for t in wt if t < tk.eot]
            if real and i < len(toks):
                jj = min(i + len(real), len(toks))
                p = probs[i:jj] if jj > i else probs[i : i + 1]
                t0 = float(jump_times[min(i, len(jump_times) - 1)]) - offset
                t1 = float(jump_times[min(jj, len(jump_times) - 1)]) - offset
                out.append(WindowWord(word.strip(), t0, max(t1, t0), float(np.mean(p)) if len(p) else 1.0, float(np.min(p)) if len(p) else 1.0, jj - i))
            i = j
        return _merge_punctuation([w for w in out if w.text])


def _merge_punctuation(words: list[WindowWord]) -> list[WindowWord]:
    """Attach punctuation-only "words" to their neighbour, as Whisper's own output does."""
    out: list[WindowWord] = []
    pending = ""
    for w in words:
        if set(w.text) <= _PUNCT_AFTER and out and not (set(w.text) <= _PUNCT_BEFORE and not set(w.text) <= _PUNCT_AFTER):
            out[-1].text += w.text
            continue
        if set(w.text) <= _PUNCT_BEFORE:
            pending += w.text
            continue
        if pending:
            w.text = pending + w.text
            pending = ""
        out.append(w)
    return out


def covered_until(words: Sequence[WindowWord]) -> float | None:
    """Where a segment's words stop (s), or None without words or without times for them.

    A word's end counts only up to a plausible length for it (0.3 s plus 0.12 s a
    character): when Whisper stops early, cross-attention alignment stretches the last word
    over the untranscribed rest (a 2.7 s "of"), which would hide the early stop. Words that all
    end at 0 s have no times (the alignment failed), not an early stop at the start.
    """
    if not words or all(w.t1 <= 0.0 for w in words):
        return None
    return max(min(w.t1, w.t0 + 0.3 + 0.12 * len(w.text)) for w in words)


def _joined(head: WindowResult, tail: WindowResult, at: float) -> WindowResult:
    """``head`` followed by ``tail``, a decode of the audio from ``at`` s on (its word times shifted there).

    A head word stretched past ``at`` (see ``covered_until``) ends there: the tail's words follow it.
    """
    for w in head.words:
        w.t1 = max(w.t0, min(w.t1, at))
    for w in tail.words:
        w.t0 += at
        w.t1 += at
    words = head.words + tail.words
    text = " ".join(x for x in (head.text, tail.text) if x)
    n_head, n_tail = len(head.words), len(tail.words)
    alternatives = [f"{a} {b}" for a, b in zip(head.alternatives, tail.alternatives + [tail.text] * len(head.alternatives))]
    return WindowResult(
        text, words,
        avg_logprob=(head.avg_logprob * n_head + tail.avg_logprob * n_tail) / max(n_head + n_tail, 1),
        no_speech_prob=min(head.no_speech_prob, tail.no_speech_prob),
        compression_ratio=compression_ratio(text),
        path=head.path,
        truncated=head.truncated or tail.truncated,
        context_words=head.context_words,
        alternatives=alternatives,
        spilled=head.spilled + tail.spilled,
        tails=head.tails + tail.tails + 1,
    )
