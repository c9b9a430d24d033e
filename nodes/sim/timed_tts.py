"""espeak-ng speech with the exact start and end of every word, for timing tests.

The command line cannot say where words are (``-X`` has no times, ``--pho`` needs MBROLA),
but libespeak-ng's synthesis callback reports, with phoneme events switched on, the sample
at which every phoneme starts. Word times are derived from those (see ../shared/RESEARCH.md):

* a word starts at its first phoneme: the word events themselves fire 10-50 ms early;
* a word ends where the next phoneme starts (the next word's first phoneme, or a pause),
  with any near-silence at its end trimmed when a pause follows;
* espeak sometimes speaks two words as one chunk ("for a", "many of"): the second word gets
  no event of its own. The pair then shares the chunk's span and both are marked
  ``exact=False`` (their outer boundaries are exact, the one between them is unknown), so
  evaluations can leave them out.

Each synthesis runs in a fresh process (``_espeak_worker.py``): the library drifts when
reused in one process and hangs when re-initialised, and a fresh process is bit-identical
run after run. Output is resampled from 22.05 kHz with the project's time-preserving
resampler, so sample ``n`` at 22.05 kHz lands exactly at media time ``n / 22050``.

Usable without the engine; does not touch ``tts.py`` (whose audio comes from the command
line and is not sample-identical to the library's).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .tts import CLEAR_VOICES, Conversation, EspeakMissing, Turn

_WORKER = Path(__file__).with_name("_espeak_worker.py")
#: Absolute amplitude under which trailing samples of a word count as silence.
_SILENCE = 1e-3


@dataclass(frozen=True)
class TimedWord:
    """One spoken word and where it is, in seconds from the start of its audio."""

    text: str
    t0: float
    t1: float
    exact: bool = True


@dataclass
class TimedSpeech:
    audio: np.ndarray
    rate: int
    words: list[TimedWord] = field(default_factory=list)


def _tokens(text: str) -> list[tuple[int, int, str]]:
    """Whitespace-separated words as (start, end, word) character spans (0-based)."""
    return [(m.start(), m.end(), m.group()) for m in re.finditer(r"\S+", text)]


def _is_pause(name: str) -> bool:
    return name.startswith("_")


def words_from_events(text: str, events: list[dict], n_samples: int, samples: np.ndarray | None = None) -> list[tuple[str, int, int, bool]]:
    """Turn espeak word and phoneme events into (word, start, end, exact) sample spans.

    ``samples`` (the synthesised int16/float audio) lets trailing silence before pauses be
    trimmed. Positions are at the synthesis rate.
    """
    tokens = _tokens(text)
    # Group phonemes under the word event that precedes them.
    groups: list[tuple[int, list[tuple[str, int]]]] = []  # (token index, phonemes)
    boundaries: list[int] = []  # every phoneme start, in order (for "next phoneme")
    for ev in events:
        if ev["kind"] == "word":
            pos = ev["pos"] - 1  # 1-based character position
            idx = next((i for i, (a, b, _) in enumerate(tokens) if a <= pos < b), None)
            if idx is None:
                continue
            groups.append((idx, []))
        else:
            boundaries.append(ev["sample"])
            if groups and not _is_pause(ev["name"]):
                groups[-1][1].append((ev["name"], ev["sample"]))
    boundaries = sorted(set(boundaries + [n_samples]))

    out: list[tuple[str, int, int, bool]] = []
    covered: dict[int, tuple[int, int, bool]] = {}
    for g, (idx, phones) in enumerate(groups):
        if not phones:
            continue
        start = phones[0][1]
        last = phones[-1][1]
        nxt = next((b for b in boundaries if b > last), n_samples)
        followed_by_pause = any(e["kind"] == "phoneme" and _is_pause(e["name"]) and e["sample"] == nxt for e in events)
        end = nxt
        if followed_by_pause and samples is not None:
            seg = np.abs(samples[start:end].astype(np.float32))
            scale = 32768.0 if samples.dtype == np.int16 else 1.0
            loud = np.flatnonzero(seg > _SILENCE * scale)
            if len(loud):
                end = start + int(loud[-1]) + 1
        # Words between this group's token and the next group's token were spoken inside
        # this chunk (no event of their own): they share its span, inexactly.
        next_idx = groups[g + 1][0] if g + 1 < len(groups) else len(tokens)
        members = list(range(idx, max(next_idx, idx + 1)))
        exact = len(members) == 1
        for m in members:
            covered[m] = (start, end, exact)
    for i, (_, _, word) in enumerate(tokens):
        if i in covered:
            a, b, exact = covered[i]
            out.append((word, a, b, exact))
    return out


def synthesize_timed(text: str, voice: str = "en-us+m3", rate: int = 16000, wpm: int = 160, pitch: int | None = None, word_gap_ms: int = 0) -> TimedSpeech:
    """Speak ``text`` with libespeak-ng; return audio at ``rate`` and every word's exact span."""
    req = {"text": text, "voice": voice, "wpm": wpm, "pitch": pitch, "word_gap_ms": word_gap_ms}
    try:
        proc = subprocess.run([sys.executable, "-S", str(_WORKER)], input=json.dumps(req).encode(), capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise RuntimeError("espeak-ng synthesis timed out") from None
    if proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip()
        if proc.returncode == 3:
            raise EspeakMissing(msg)
        raise RuntimeError(f"espeak-ng synthesis failed: {msg}")
    head, _, body = proc.stdout.partition(b"\n")
    meta = json.loads(head)
    src_rate = int(meta["rate"])
    pcm = np.frombuffer(body, dtype="<i2")
    spans = words_from_events(text, meta["events"], len(pcm), pcm)
    audio = pcm.astype(np.float32) / 32768.0
    if src_rate != rate:
        from ..audio.resample import StreamingResampler

        r = StreamingResampler(src_rate, rate, 1)
        audio = np.concatenate([r.process(audio[:, None]), r.flush()])[:, 0]
    words = [TimedWord(w, a / src_rate, b / src_rate, exact) for w, a, b, exact in spans]
    return TimedSpeech(np.ascontiguousarray(audio, dtype=np.float32), rate, words)


@dataclass
class TimedConversation(Conversation):
    """A scripted conversation whose words carry exact times in the recording."""

    words: list[list[TimedWord]] = field(default_factory=list)  # per turn, in recording time

    def all_words(self) -> list[TimedWord]:
        return [w for turn in self.words for w in turn]


def timed_conversation(
    script: list[tuple[str, str]], voices: dict[str, str] | None = None, rate: int = 16000, gap_s: float = 1.0, lead_s: float = 0.5, wpm: int = 160
) -> TimedConversation:
    """Like ``tts.conversation``, with every word's exact span in recording time."""
    voices = dict(voices or {})
    for spk, _ in script:
        voices.setdefault(spk, CLEAR_VOICES[len(voices) % len(CLEAR_VOICES)])
    lead = int(lead_s * rate)
    parts = [np.zeros(lead, dtype=np.float32)]
    pos = lead
    turns: list[Turn] = []
    words: list[list[TimedWord]] = []
    for spk, text in script:
        sp = synthesize_timed(text, voices[spk], rate, wpm)
        off = pos / rate
        tw = [TimedWord(w.text, w.t0 + off, w.t1 + off, w.exact) for w in sp.words]
        words.append(tw)
        t0 = tw[0].t0 if tw else off
        t1 = tw[-1].t1 if tw else off + len(sp.audio) / rate
        turns.append(Turn(spk, text, voices[spk], t0, t1))
        parts.append(sp.audio)
        pos += len(sp.audio)
        gap = int(gap_s * rate)
        parts.append(np.zeros(gap, dtype=np.float32))
        pos += gap
    return TimedConversation(np.concatenate(parts), rate, turns, words)
