"""Pronunciations (CMU ARPAbet) for words a dictionary lacks, from espeak-ng's rules.

The hybrid first pass (pocketsphinx) can only recognise and align words its dictionary
has. A user's vocabulary (names, jargon) and the second pass's output (numbers, new words)
contain words it lacks; espeak-ng, already a dependency for test speech, turns any
English spelling into phonemes (``--ipa``), which map onto the 39 ARPAbet phones of
pocketsphinx's en-us acoustic model. One espeak-ng call handles a whole batch of words.

Usable without the engine.
"""

from __future__ import annotations

import re
import shutil
import unicodedata
import subprocess
from functools import lru_cache
from typing import Iterable

#: IPA symbols (as espeak-ng writes them for en-us) -> ARPAbet, longest match first.
_IPA = {
    "aɪə": "AY ER",
    "aɪɚ": "AY ER",
    "aʊɚ": "AW ER",
    "tʃ": "CH",
    "dʒ": "JH",
    "eɪ": "EY",
    "aɪ": "AY",
    "aʊ": "AW",
    "ɔɪ": "OY",
    "oʊ": "OW",
    "əʊ": "OW",
    "ɑɹ": "AA R",
    "ɔɹ": "AO R",
    "oɹ": "AO R",
    "ɛɹ": "EH R",
    "ɪɹ": "IH R",
    "ʊɹ": "UH R",
    "iə": "IY AH",
    "əl": "AH L",
    "n̩": "AH N",
    "l̩": "AH L",
    "i": "IY",
    "ɪ": "IH",
    "ᵻ": "IH",
    "e": "EY",
    "ɛ": "EH",
    "æ": "AE",
    "a": "AA",
    "ɑ": "AA",
    "ɒ": "AA",
    "ɔ": "AO",
    "o": "OW",
    "ʊ": "UH",
    "u": "UW",
    "ʌ": "AH",
    "ə": "AH",
    "ɐ": "AH",
    "ɚ": "ER",
    "ɜ": "ER",
    "ɝ": "ER",
    "p": "P",
    "b": "B",
    "t": "T",
    "d": "D",
    "k": "K",
    "g": "G",
    "ɡ": "G",
    "f": "F",
    "v": "V",
    "θ": "TH",
    "ð": "DH",
    "s": "S",
    "z": "Z",
    "ʃ": "SH",
    "ʒ": "ZH",
    "h": "HH",
    "x": "HH",
    "m": "M",
    "n": "N",
    "ŋ": "NG",
    "l": "L",
    "ɹ": "R",
    "r": "R",
    "w": "W",
    "j": "Y",
    "ɾ": "D",
    "ʔ": "T",
}
_KEYS = sorted(_IPA, key=len, reverse=True)
_DROP = str.maketrans("", "", "ˈˌːˑ‿|'\u0329\u032f")


def ipa_to_arpabet(ipa: str) -> list[str]:
    """ARPAbet phones for an IPA string; unknown symbols are skipped."""
    s = ipa.replace("\u0329", "").translate(_DROP)
    phones: list[str] = []
    i = 0
    while i < len(s):
        if s[i] in " _-":
            i += 1
            continue
        for k in _KEYS:
            if s.startswith(k, i):
                phones.extend(_IPA[k].split())
                i += len(k)
                break
        else:
            i += 1  # stress marks, tie bars and other symbols without a phone of their own
    return phones


def normalize_word(word: str) -> str:
    """The form dictionaries use: lower case ASCII letters, digits and inner apostrophes and hyphens.

    Accents are dropped ("Zoë" -> "zoe"), other characters removed.
    """
    w = unicodedata.normalize("NFKD", word.lower().replace("’", "'"))
    w = "".join(c for c in w if not unicodedata.combining(c))
    w = re.sub(r"[^a-z0-9'\-]", "", w)
    return w.strip("'-")


@lru_cache(maxsize=8192)
def _espeak_one(word: str, voice: str) -> tuple[str, ...]:
    return tuple(espeak_arpabet([word], voice).get(word, []))


def espeak_arpabet(words: Iterable[str], voice: str = "en-us") -> dict[str, list[str]]:
    """ARPAbet pronunciations of ``words`` by espeak-ng's letter-to-sound rules (one call).

    Returns an empty mapping when espeak-ng is not installed: callers fall back to
    whatever else they have (Whisper's own word times, for instance).
    """
    words = [w for w in dict.fromkeys(words) if w]
    exe = shutil.which("espeak-ng")
    if not words or exe is None:
        return {}
    # One word per line; a full stop ends each clause so lines never run together.
    text = "\n".join(f"{w}." for w in words)
    try:
        proc = subprocess.run([exe, "-q", "-v", voice, "--ipa", "--sep=_"], input=text, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    lines = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip()]
    if len(lines) != len(words):  # espeak merged or split lines: fall back to one call per word
        if len(words) == 1:
            return {words[0]: ipa_to_arpabet(" ".join(lines))} if lines else {}
        return {w: list(_espeak_one(w, voice)) for w in words}
    return {w: ipa_to_arpabet(ln) for w, ln in zip(words, lines)}
