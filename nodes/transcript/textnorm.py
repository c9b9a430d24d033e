"""Text normalisation for scoring transcripts (WER): case, punctuation, hyphens, spacing.

Kept deliberately simple and documented, so that scores from tests, benchmarks and
``meetflow eval`` are comparable: lower-case, hyphens and slashes become spaces,
apostrophes inside words are kept ("don't"), every other punctuation mark is dropped.
"""

from __future__ import annotations

import re
import unicodedata

_PUNCT = re.compile(r"[^\w\s']")
_QUOTES = re.compile(r"(?<!\w)'|'(?!\w)")


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("’", "'").replace("-", " ").replace("/", " ")
    text = _PUNCT.sub(" ", text)
    text = _QUOTES.sub(" ", text)
    return " ".join(text.split())


def word_error_rate(ref: str, hyp: str) -> float:
    """WER of ``hyp`` against ``ref`` after normalisation (jiwer)."""
    import jiwer

    r, h = normalize(ref), normalize(hyp)
    if not r:
        return 0.0 if not h else 1.0
    return float(jiwer.wer(r, h))
