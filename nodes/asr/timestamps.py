"""Word start and end times for final words: forced alignment first, Whisper's times as fallback.

Whisper's word times come from cross-attention and are measured to be ~90 ms off on
average (consistently late, and the first word after silence can be 0.5 s early); the
first pass's HMM acoustic model, force-aligned to the final text (``SphinxAligner``),
places boundaries within ~20 ms on generated speech. Each final word therefore takes its
aligned times when the alignment succeeded, otherwise Whisper's, each corrected by a
constant offset fitted on generated speech with exact word boundaries
(``tools/bench_timestamps.py --fit`` writes ``timing_model.json`` beside this module).
Times are then made monotonic and kept inside the segment.

Usable without the engine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

MODEL_PATH = Path(__file__).with_name("timing_model.json")


@dataclass
class TimingModel:
    """Constant corrections (seconds, added) for each source of word times."""

    aligned_start_s: float = 0.0
    aligned_end_s: float = 0.0
    whisper_start_s: float = 0.0
    whisper_end_s: float = 0.0

    @classmethod
    def load(cls, path: str | Path | None = None) -> "TimingModel":
        p = Path(path) if path else MODEL_PATH
        if not p.exists():
            if path:
                raise FileNotFoundError(f"timing model '{p}' does not exist")
            return cls()
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
            return cls(**{k: float(v) for k, v in d.get("offsets", d).items() if k in cls.__dataclass_fields__})
        except (OSError, ValueError, TypeError) as exc:
            raise ValueError(f"cannot read timing model '{p}': {exc}") from None

    def to_json(self) -> dict:
        return {"offsets": {k: round(getattr(self, k), 4) for k in self.__dataclass_fields__}}


@dataclass
class WordTime:
    t0: float
    t1: float
    aligned: bool


#: An unaligned word shorter than this has no usable time of its own (see ``_spread_collapsed``).
COLLAPSED_S = 0.02


def assign_times(
    whisper: Sequence[tuple[float, float]],
    aligned: Sequence[tuple[float | None, float | None]],
    model: TimingModel,
    duration: float,
    weights: Sequence[float] | None = None,
) -> list[WordTime]:
    """One time span per word, from the aligner where it has one, else from Whisper.

    Both inputs are in seconds from the start of the segment's audio, one entry per word;
    ``weights`` (e.g. letters per word) share out the room of words whose times collapsed.
    """
    out: list[WordTime] = []
    for (w0, w1), (a0, a1) in zip(whisper, aligned):
        if a0 is not None and a1 is not None:
            out.append(WordTime(a0 + model.aligned_start_s, a1 + model.aligned_end_s, True))
        else:
            out.append(WordTime(w0 + model.whisper_start_s, w1 + model.whisper_end_s, False))
    # Keep words in order and inside the segment; an unaligned word between aligned ones
    # is squeezed into the gap they leave.
    for i, w in enumerate(out):
        lo = out[i - 1].t0 if i else 0.0
        w.t0 = min(max(w.t0, lo, 0.0), duration)
        if not w.aligned:
            nxt = next((x.t0 for x in out[i + 1 :] if x.aligned), None)
            if nxt is not None:
                w.t0 = min(w.t0, nxt)
                w.t1 = min(w.t1, nxt)
        w.t1 = min(max(w.t1, w.t0), duration)
    _spread_collapsed(out, duration, weights)
    return out


def spread_collapsed(spans: Sequence[tuple[float, float]], start: float, end: float, weights: Sequence[float] | None = None) -> list[tuple[float, float]]:
    """Whisper's own word spans (media times, in order) with the collapsed ones spread over
    the room around them inside [start, end] (see ``_spread_collapsed``)."""
    out = [WordTime(a - start, b - start, False) for a, b in spans]
    _spread_collapsed(out, end - start, weights)
    return [(w.t0 + start, w.t1 + start) for w in out]


def _spread_collapsed(out: list[WordTime], duration: float, weights: Sequence[float] | None) -> None:
    """Give unaligned words that collapsed to an instant the room between their neighbours.

    Whisper's cross-attention sometimes places a short segment's words in the audio of the
    previous segments it was given as context: clamped into the segment they all sit at its
    start, zero seconds long (seen on AMI: a five-word final at one instant, a zero-length
    subtitle and RTTM line). The words are still the best text there is, so each run of such
    words shares the gap between the words around it (or the segment's edges) in proportion
    to ``weights``; a run with no room at all keeps its instant.
    """
    n = len(out)
    i = 0
    while i < n:
        if out[i].aligned or out[i].t1 - out[i].t0 >= COLLAPSED_S:
            i += 1
            continue
        j = i
        while j + 1 < n and not out[j + 1].aligned and out[j + 1].t1 - out[j + 1].t0 < COLLAPSED_S:
            j += 1
        lo = out[i - 1].t1 if i else 0.0
        hi = out[j + 1].t0 if j + 1 < n else duration
        lo, hi = max(min(lo, out[i].t0), 0.0), min(max(hi, out[j].t1), duration)
        if hi - lo >= COLLAPSED_S * (j - i + 1):
            w = [max(float(weights[k]), 1.0) if weights is not None else 1.0 for k in range(i, j + 1)]
            total, t = sum(w), lo
            for k, share in zip(range(i, j + 1), w):
                out[k].t0 = t
                t += (hi - lo) * share / total
                out[k].t1 = t
        i = j + 1
