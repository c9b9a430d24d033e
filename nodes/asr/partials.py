"""Streaming policies for re-decoding recognisers: stable partial text, LocalAgreement, load gating.

A recogniser that re-decodes a growing buffer (Whisper) produces a new hypothesis each
time, and consecutive hypotheses disagree about their last words. Shown as is, the text
flickers. The remedy (LocalAgreement, Machacek et al. 2023, "whisper_streaming"): a word
is *stable* once two consecutive hypotheses agree on it and on everything before it;
stable words never change again within the segment.

* ``StablePrefix``: partial text = stable words + the newest hypothesis's tail. The
  stable part only grows; only the tail may change (it is marked as such in ``extra``).
* ``LocalAgreement``: whisper_streaming's policy, where only agreed words are output at
  all (used as the literature baseline by ``meetflow bench latency``).
* ``LoadGate``: in live runs, re-decoding for partials is optional work: it is skipped
  when it would use more than a budgeted share of the wall clock or when the node is
  already behind real time, so finals (which are never skipped) keep their latency.

Word comparison ignores case and punctuation. Usable without the engine.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Sequence

from .pronounce import normalize_word


def _norm(words: Sequence[str]) -> list[str]:
    return [normalize_word(w) for w in words]


def common_prefix(a: Sequence[str], b: Sequence[str]) -> int:
    """Number of leading words ``a`` and ``b`` share (normalised)."""
    n = 0
    for x, y in zip(_norm(a), _norm(b)):
        if x != y or not x:
            break
        n += 1
    return n


def strip_committed(committed: Sequence[str], hyp: Sequence[str], max_n: int = 5) -> list[str]:
    """``hyp`` without the words that repeat the end of ``committed``.

    A hypothesis of the whole buffer restates what was already committed; the longest
    n-gram (up to ``max_n`` words) that ends ``committed`` and starts ``hyp`` is removed,
    as whisper_streaming does.
    """
    c, h = _norm(committed), _norm(hyp)
    if len(c) >= len(h) and c[: len(h)] == h:
        return []
    if h[: len(c)] == c and c:
        return list(hyp[len(c) :])
    for n in range(min(max_n, len(c), len(h)), 0, -1):
        if c[-n:] == h[:n]:
            return list(hyp[n:])
    # The buffer is decoded from its start again, and the decoder may now read an earlier
    # committed word differently: then neither test above holds, and taking the whole
    # hypothesis as new would repeat the committed text. Align the two and continue after
    # the hypothesis's counterpart of the last committed word (whisper_streaming drops
    # the words that start before the last committed word's end for the same reason).
    if c and h:
        blocks = [b for b in SequenceMatcher(a=c, b=h, autojunk=False).get_matching_blocks() if b.size]
        if blocks:
            last = blocks[-1]
            behind = len(c) - (last.a + last.size)  # committed words after the last match
            if behind <= 2 and last.a + last.size >= len(c) // 2:
                return list(hyp[last.b + last.size + behind :])
    return list(hyp)


@dataclass
class StablePrefix:
    """Stable partial text for one segment (see the module docstring)."""

    stable: list[str] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)

    def update(self, hypothesis: Sequence[str]) -> tuple[list[str], list[str]]:
        """Take a new hypothesis of the whole segment; return (stable words, tail words)."""
        # Stable words stay as they are even when the decoder now reads one differently;
        # the hypothesis continues after as many words as are stable.
        new = list(hypothesis)[len(self.stable) :]
        agreed = common_prefix(self.tail, new)
        self.stable.extend(new[:agreed])
        self.tail = new[agreed:]
        return list(self.stable), list(self.tail)

    @property
    def text(self) -> str:
        return " ".join(self.stable + self.tail)


@dataclass
class LocalAgreement:
    """whisper_streaming's LocalAgreement-2: commit what two consecutive hypotheses agree on."""

    committed: list[str] = field(default_factory=list)
    previous: list[str] = field(default_factory=list)

    def insert(self, hypothesis: Sequence[str]) -> list[str]:
        """Take a hypothesis of the buffer; return the words committed by it."""
        new = strip_committed(self.committed, hypothesis)
        n = common_prefix(self.previous, new)
        done = list(new[:n])
        self.committed.extend(done)
        self.previous = list(new[n:])
        return done

    def finish(self) -> list[str]:
        """End of the segment: the last hypothesis's uncommitted words are final too."""
        rest, self.previous = self.previous, []
        self.committed.extend(rest)
        return rest


class LoadGate:
    """Decide whether optional work (a partial decode) may run now, in a live run.

    ``budget`` is the share of wall-clock time such work may take, measured over the last
    ``window_s`` seconds; ``max_lag_s`` how far behind real time the input may be.
    """

    def __init__(self, budget: float = 0.5, max_lag_s: float = 1.0, window_s: float = 10.0) -> None:
        self.budget = budget
        self.max_lag_s = max_lag_s
        self.window_s = window_s
        self._spans: deque[tuple[float, float]] = deque()
        self.skipped = 0
        self.ran = 0

    def allow(self, lag_s: float, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        while self._spans and self._spans[0][1] < now - self.window_s:
            self._spans.popleft()
        used = sum(b - max(a, now - self.window_s) for a, b in self._spans)
        if lag_s > self.max_lag_s or used > self.budget * self.window_s:
            self.skipped += 1
            return False
        self.ran += 1
        return True

    def record(self, start: float, end: float) -> None:
        self._spans.append((start, end))
