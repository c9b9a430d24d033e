"""A user's custom vocabulary: words and phrases both recognition passes should favour.

One list feeds both passes of the cascade:

* the hybrid first pass (pocketsphinx) gets every entry as one extra dictionary word with
  its pronunciation (from the dictionary, or espeak-ng's rules for words it lacks) and a
  language-model unigram of its own. A phrase becomes a single compound entry
  (``__login_page``), so the decoder can hypothesise it as a unit with one boosted score
  instead of needing every word's n-gram context; it is split back into words on output;
* the Whisper second pass gets the list in its prompt ("Glossary: ..."), which is how
  Whisper is steered towards spellings (faster-whisper's ``hotwords`` do the same).

Usable without the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from .pronounce import normalize_word

#: Prefix of compound dictionary entries made from vocabulary phrases.
COMPOUND_MARK = "__"


@dataclass(frozen=True)
class Entry:
    """One vocabulary item: how it is written, and its words in dictionary form."""

    text: str
    words: tuple[str, ...]

    @property
    def token(self) -> str:
        """The first pass's dictionary word for this entry."""
        return COMPOUND_MARK + "_".join(self.words)


@dataclass
class Vocabulary:
    entries: list[Entry] = field(default_factory=list)

    @classmethod
    def from_items(cls, items: Iterable[str]) -> "Vocabulary":
        seen: set[tuple[str, ...]] = set()
        entries: list[Entry] = []
        for raw in items:
            text = " ".join(raw.split())
            if not text or text.startswith("#"):
                continue
            words = tuple(w for w in (normalize_word(x) for x in text.split()) if w)
            if words and words not in seen:
                seen.add(words)
                entries.append(Entry(text, words))
        return cls(entries)

    @classmethod
    def load(cls, words: Sequence[str] | None = None, path: str | Path | None = None) -> "Vocabulary":
        """Entries from a list and/or a UTF-8 file with one word or phrase per line (``#`` comments)."""
        items = list(words or [])
        if path:
            p = Path(path).expanduser()
            try:
                items += p.read_text(encoding="utf-8").splitlines()
            except FileNotFoundError:
                raise FileNotFoundError(f"vocabulary file '{p}' does not exist") from None
            except (OSError, UnicodeDecodeError) as exc:
                raise ValueError(f"cannot read vocabulary file '{p}': {exc}") from None
        return cls.from_items(items)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def prompt(self, limit_chars: int = 400) -> str:
        """The second pass's prompt text: the entries as written, comma separated."""
        out: list[str] = []
        size = 0
        for e in self.entries:
            if size + len(e.text) + 2 > limit_chars:
                break
            out.append(e.text)
            size += len(e.text) + 2
        return ("Glossary: " + ", ".join(out) + ".") if out else ""


def split_compound(word: str) -> list[str]:
    """Dictionary word -> spoken words (compound vocabulary entries become their words)."""
    if word.startswith(COMPOUND_MARK):
        return [w for w in word[len(COMPOUND_MARK) :].split("_") if w]
    return [word]
