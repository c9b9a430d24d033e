"""SegLST segments with word times, turned into one SegLST segment per word for scoring.

MeetEval's tcpWER compares each hypothesis word's time with its reference word's (within a
collar). SegLST has no standard place for word times, so MeetEval estimates them inside each
segment from the segment's bounds and the words' lengths in characters ("pseudo word
timing": an interval per word for the reference, the centre point of that interval for
the hypothesis). Over the long segments of a meeting that estimate drifts by seconds, and
scored that way tcpWER can hardly differ from cpWER.

meetflow's ``transcript.seglst.json`` and ``meetflow simulate``'s ``reference.seglst.json``
both carry the real times as ``word_times``: ``[[word, t0, t1], ...]`` per segment. Given
one segment per word, MeetEval's pseudo timing of a segment *is* the word's real time (the
reference word's interval; the hypothesis word's centre), so ``meetflow eval transcript``
scores with real word times by handing MeetEval such segments; nothing in MeetEval's
defaults changes. A segment whose ``word_times`` do not spell its ``words`` (edited by
hand, or from another tool) keeps MeetEval's estimate, and is counted.
"""

from __future__ import annotations

import math
from typing import Any

from .textnorm import normalize


class WordTimesError(ValueError):
    """``word_times`` that are not a list of ``[word, t0, t1]`` with sound times."""


def _entry(i: int, k: int, w: Any) -> tuple[str, float, float]:
    where = f"segment {i}: word_times[{k}]"
    if not isinstance(w, (list, tuple)) or len(w) != 3 or not isinstance(w[0], str):
        raise WordTimesError(f"{where} must be [word, start, end], not {w!r}")
    try:
        t0, t1 = float(w[1]), float(w[2])
    except (TypeError, ValueError):
        raise WordTimesError(f"{where}: times must be numbers, not {w[1]!r}, {w[2]!r}") from None
    if not (math.isfinite(t0) and math.isfinite(t1)) or t0 < 0:
        raise WordTimesError(f"{where}: times must be finite and not below zero: {w[1]!r}, {w[2]!r}")
    if t1 < t0:
        raise WordTimesError(f"{where} ends ({t1}) before it starts ({t0})")
    return w[0], t0, t1


def word_times(segment: dict[str, Any], i: int = 0) -> list[tuple[str, float, float]] | None:
    """A segment's checked ``word_times`` (None when it has none)."""
    wt = segment.get("word_times")
    if wt is None:
        return None
    if not isinstance(wt, list):
        raise WordTimesError(f"segment {i}: word_times must be a list of [word, start, end]")
    return [_entry(i, k, w) for k, w in enumerate(wt)]


def split_into_words(segments: list[dict[str, Any]], as_written: bool = False) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """One segment per timed word, for segments whose ``word_times`` spell their ``words``.

    Spelling is compared after normalisation (case, punctuation), since a reference's
    timed words may leave out the punctuation its text has. The new segments keep every
    other key of their segment; their ``words`` is the timed word. With ``as_written``
    (scoring without normalisation) a segment is split only when its own tokens pair one
    to one with its timed words, and each new segment takes the segment's own token, so
    that the text is scored as written. Returns the segments and
    counts: ``timed`` (segments split), ``untimed`` (no word times), ``mismatched`` (word
    times that do not spell the text: kept whole).
    """
    out: list[dict[str, Any]] = []
    counts = {"timed": 0, "untimed": 0, "mismatched": 0}
    for i, s in enumerate(segments):
        wt = word_times(s, i)
        if wt is None:
            counts["untimed"] += 1
            out.append(s)
            continue
        text = str(s["words"])
        tokens = text.split()
        if as_written:  # the segment's own tokens, one per timed word
            ok = len(tokens) == len(wt) and all(normalize(a) == normalize(b) for a, (b, _, _) in zip(tokens, wt))
        else:
            ok = normalize(" ".join(w for w, _, _ in wt)) == normalize(text)
        if not ok:
            counts["mismatched"] += 1
            out.append(s)
            continue
        counts["timed"] += 1
        base = {k: v for k, v in s.items() if k not in ("words", "start_time", "end_time", "word_times")}
        for k, (w, t0, t1) in enumerate(wt):
            out.append({**base, "start_time": t0, "end_time": t1, "words": tokens[k] if as_written else w})
    return out, counts
