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


def assign_times(
    whisper: Sequence[tuple[float, float]],
    aligned: Sequence[tuple[float | None, float | None]],
    model: TimingModel,
    duration: float,
) -> list[WordTime]:
    """One time span per word, from the aligner where it has one, else from Whisper.

    Both inputs are in seconds from the start of the segment's audio, one entry per word.
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
    return out
