"""espeak-ng speech with the exact time of every word (libespeak-ng's phoneme events).

The command-line espeak-ng gives no timings. libespeak-ng reports, while it synthesises, an
event per word (its character span in the text) and per phoneme (the output sample where it
starts). A word starts at its first phoneme and ends where the next phoneme (the next word's,
or a pause) starts, trimmed of trailing silence; word events themselves fire 10-50 ms early,
so phonemes are used (see ../shared/RESEARCH.md). Each synthesis runs in its own small
process (``espeak_worker.py``), which keeps the output exact and repeatable.

``speak(text, voice)`` returns the audio at the requested rate and the word times; it raises
``WordTimesUnavailable`` when libespeak-ng cannot be used (callers then fall back to the
command line and go without word times).
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WORKER = Path(__file__).with_name("espeak_worker.py")
WORD, PHONEME, END, MSG_END = 1, 7, 5, 6


class WordTimesUnavailable(RuntimeError):
    pass


@dataclass
class TimedWord:
    text: str
    t0: float
    t1: float


def _worker(text: str, voice: str, wpm: int) -> dict:
    try:
        proc = subprocess.run([sys.executable, "-S", "-E", str(WORKER), voice, str(wpm)], input=text.encode("utf-8"), capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WordTimesUnavailable(f"espeak-ng worker failed: {exc}") from None
    try:
        out = json.loads(proc.stdout or b"{}")
    except ValueError:
        out = {}
    if proc.returncode != 0 or "audio" not in out:
        why = out.get("error") or proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or "no output"
        raise WordTimesUnavailable(f"libespeak-ng: {why}")
    return out


def _words(text: str, events: list[list], audio: np.ndarray, rate: int) -> list[TimedWord]:
    """Word spans (seconds, at the synthesis rate) from word and phoneme events.

    espeak-ng sometimes speaks two words as one ("for a", "with the") and reports one word
    event for both: the words of the text are therefore matched to word events by character
    position, and words that share an event share its span (split by their lengths).
    """
    spans: list[list] = []  # [char position, first phoneme sample, end sample]
    open_span: list | None = None
    for etype, pos, _length, _ms, sample, name in events:
        if etype == WORD:
            if open_span is not None and open_span[1] is None:
                spans.pop()  # a word event that never got a phoneme: its text joins the previous one
            open_span = [max(0, pos - 1), None, None]
            spans.append(open_span)
        elif etype == PHONEME and not name.startswith("_"):
            if open_span is not None and open_span[1] is None:
                open_span[1] = sample
                for prev in spans[:-1]:
                    if prev[2] is None:
                        prev[2] = sample  # the previous word ends where this one begins
        elif etype == PHONEME or etype in (END, MSG_END):  # a pause or the end: whatever is open ends here
            for sp in spans:
                if sp[1] is not None and sp[2] is None:
                    sp[2] = sample
            if open_span is not None and open_span[1] is not None:
                open_span = None
    for sp in spans:
        if sp[1] is not None and sp[2] is None:
            sp[2] = len(audio)
    spans = [sp for sp in spans if sp[1] is not None]
    tokens = [(m.start(), m.group()) for m in re.finditer(r"[\w']+", text)]
    out: list[TimedWord] = []
    for k, (pos, start, end) in enumerate(spans):
        nxt = spans[k + 1][0] if k + 1 < len(spans) else len(text) + 1
        first = pos if k else -1  # words before the first event belong to it
        group = [w for p, w in tokens if first <= p < nxt]
        if not group:
            continue
        end = _trim(audio, start, end, rate)
        total = sum(len(w) for w in group)
        a = float(start)
        for w in group:
            b = a + (end - start) * len(w) / total
            out.append(TimedWord(w, a / rate, b / rate))
            a = b
    return out


def _trim(audio: np.ndarray, start: int, end: int, rate: int) -> int:
    """Move ``end`` back over trailing silence (5 ms frames below -35 dB of the word's peak)."""
    seg = audio[start:end].astype(np.float64)
    frame = max(1, rate // 200)
    n = len(seg) // frame
    if n < 2:
        return end
    e = np.sqrt(np.mean(seg[: n * frame].reshape(n, frame) ** 2, axis=1))
    loud = np.flatnonzero(e > e.max() * 10 ** (-35 / 20))
    return start + (int(loud[-1]) + 1) * frame if len(loud) else end


def speak(text: str, voice: str, rate: int = 16000, wpm: int = 160) -> tuple[np.ndarray, list[TimedWord]]:
    """Synthesise ``text``; return mono float32 audio at ``rate`` and every word's times."""
    from ..audio.resample import StreamingResampler

    out = _worker(text, voice, wpm)
    sr = int(out["rate"])
    pcm = np.frombuffer(base64.b64decode(out["audio"]), dtype="<i2").astype(np.float32) / 32768.0
    words = _words(text, out["events"], pcm, sr)
    x = pcm[:, None]
    if sr != rate:
        r = StreamingResampler(sr, rate, 1)
        x = np.concatenate([r.process(x), r.flush()])
    return np.ascontiguousarray(x[:, 0]), words  # the resampler keeps media time: word times hold
