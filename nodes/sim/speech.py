"""Dry speech for simulated meetings: espeak-ng voices with known text, or a folder of the user's clips.

An utterance is mono audio at the meeting's rate plus what is known about it: its text and,
where known, the time of each word (relative to the clip's first sample). Synthesis is
deterministic (same voice and text, same samples), and a small cache avoids synthesising a
sentence twice while a scenario is generated and then rendered.

A clip folder is laid out one sub-folder per talker::

    clips/alice/intro.wav   clips/alice/intro.txt    (transcript, optional)
    clips/bob/q1.flac       clips/bob/q1.json        ({"text": ..., "words": [{"text", "start", "end"}]}, optional)

Clips directly in the folder (no sub-folders) are dealt out to the talkers in turn.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif"}

#: Distinct, well-recognised espeak-ng voices (see RESEARCH.md): a speaker encoder tells
#: them apart and Whisper reads them well. Near-duplicates (m1 vs m3) are avoided.
MEETING_VOICES = ("en-us+m3", "en-gb-x-rp+m1", "en-us+klatt", "en-gb-scotland+m7", "en+f2", "en-us+f4", "en-us+croak", "en")


@dataclass
class WordTime:
    text: str
    t0: float
    t1: float


@dataclass
class Utterance:
    """One stretch of dry speech; ``lead``/``tail`` are the silent samples trimmed from its ends."""

    audio: np.ndarray
    rate: int
    text: str
    words: list[WordTime] | None = None
    voice: str | None = None
    clip: str | None = None

    @property
    def duration(self) -> float:
        return len(self.audio) / self.rate


@dataclass
class Clip:
    path: Path
    speaker: str
    text: str = ""
    words: list[WordTime] | None = None


def trim_silence(x: np.ndarray, threshold: float = 1e-3) -> tuple[int, int]:
    """First and one-past-last sample above ``threshold`` (the whole clip if none)."""
    nz = np.flatnonzero(np.abs(x) > threshold)
    return (int(nz[0]), int(nz[-1]) + 1) if len(nz) else (0, len(x))


class SpeechBank:
    """Makes utterances: ``espeak(text, voice)`` or ``clip(path)``; caches what it made."""

    def __init__(self, rate: int = 16000) -> None:
        self.rate = rate
        self._cache: dict[tuple[str, str], Utterance] = {}

    def espeak(self, text: str, voice: str) -> Utterance:
        """Synthesised speech with exact word times (libespeak-ng), or without (command line) if need be."""
        key = ("espeak:" + voice, text)
        u = self._cache.get(key)
        if u is None:
            from .word_times import WordTimesUnavailable, speak

            words: list[WordTime] | None
            try:
                x, timed = speak(text, voice, self.rate)
                words = [WordTime(w.text, w.t0, w.t1) for w in timed]
            except WordTimesUnavailable:  # no usable libespeak-ng: the command line, without word times
                from .tts import synthesize

                x, words = synthesize(text, voice, self.rate), None
            a, b = trim_silence(x)
            if words is not None:
                off, dur = a / self.rate, (b - a) / self.rate
                words = [WordTime(w.text, round(min(max(0.0, w.t0 - off), dur), 4), round(min(max(0.0, w.t1 - off), dur), 4)) for w in words]
            u = Utterance(np.ascontiguousarray(x[a:b], dtype=np.float32), self.rate, text, words, voice=voice)
            self._cache[key] = u
        return u

    def clip(self, clip: Clip) -> Utterance:
        key = ("clip", str(clip.path))
        u = self._cache.get(key)
        if u is None:
            x = read_mono(clip.path, self.rate)
            a, b = trim_silence(x, threshold=max(1e-3, 0.01 * float(np.max(np.abs(x))) if len(x) else 1e-3))
            words = None
            if clip.words is not None:
                off = a / self.rate
                words = [WordTime(w.text, max(0.0, w.t0 - off), max(0.0, w.t1 - off)) for w in clip.words]
            u = Utterance(np.ascontiguousarray(x[a:b], dtype=np.float32), self.rate, clip.text, words, clip=str(clip.path))
            self._cache[key] = u
        return u


def read_mono(path: Path, rate: int) -> np.ndarray:
    """A clip as mono float32 at ``rate`` (mixed down and resampled when needed)."""
    import soundfile as sf

    from ..audio.resample import StreamingResampler

    try:
        x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable recording ({exc})") from None
    x = x.mean(axis=1, keepdims=True)
    if sr != rate:
        r = StreamingResampler(sr, rate, 1)
        x = np.concatenate([r.process(x), r.flush()])
    return np.ascontiguousarray(x[:, 0])


def read_transcript(path: Path) -> tuple[str, list[WordTime] | None]:
    js = path.with_suffix(".json")
    if js.exists():
        try:
            doc = json.loads(js.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{js}: not a readable transcript ({exc})") from None
        words = None
        if isinstance(doc.get("words"), list):
            words = [WordTime(str(w["text"]), float(w["start"]), float(w["end"])) for w in doc["words"]]
        text = str(doc.get("text") or " ".join(w.text for w in words or []))
        return text, words
    txt = path.with_suffix(".txt")
    if txt.exists():
        return " ".join(txt.read_text(encoding="utf-8").split()), None
    return "", None


def scan_clips(folder: str | Path) -> dict[str, list[Clip]]:
    """Clips per talker from a folder (sub-folder = talker; loose files under the key '')."""
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"{root}: not a folder of clips")
    found: dict[str, list[Clip]] = {}
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in AUDIO_SUFFIXES or not path.is_file():
            continue
        rel = path.relative_to(root)
        speaker = rel.parts[0] if len(rel.parts) > 1 else ""
        text, words = read_transcript(path)
        found.setdefault(speaker, []).append(Clip(path, speaker, text, words))
    if not found:
        raise ValueError(f"{root}: no audio clips found ({', '.join(sorted(AUDIO_SUFFIXES))})")
    return found


@dataclass
class ClipPool:
    """Clips dealt to talkers: each talker's own clips, used in turn."""

    by_talker: list[list[Clip]] = field(default_factory=list)
    used: list[int] = field(default_factory=list)

    @classmethod
    def from_folder(cls, folder: str | Path, talkers: int, rng: np.random.Generator) -> "ClipPool":
        found = scan_clips(folder)
        named = {k: v for k, v in found.items() if k}
        if named:
            if len(named) < talkers:
                raise ValueError(f"{folder}: {len(named)} talker folder(s) ({', '.join(sorted(named))}) for {talkers} talkers")
            keys = sorted(named)
            pick = sorted(rng.choice(len(keys), size=talkers, replace=False).tolist())
            groups = [named[keys[i]] for i in pick]
        else:
            loose = found[""]
            if len(loose) < talkers:
                raise ValueError(f"{folder}: {len(loose)} clip(s) for {talkers} talkers")
            groups = [loose[i::talkers] for i in range(talkers)]
        return cls(groups, [0] * talkers)

    def next(self, talker: int) -> Clip:
        group = self.by_talker[talker]
        clip = group[self.used[talker] % len(group)]
        self.used[talker] += 1
        return clip
