"""Speech with known text from espeak-ng, for tests, benchmarks and simulated meetings.

espeak-ng is offline and deterministic; its voices and variants give talkers that a speaker
encoder can tell apart (see ../shared/RESEARCH.md for which voices Whisper reads well:
``en-us+m3``, ``en-us+klatt``, ``en-gb-x-rp+m1``, ... ; female variants and regional accents
are harder). Output is 22.05 kHz; it is resampled to the requested rate with the same
polyphase resampler the file source uses.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import dataclass, field

import numpy as np

#: Voices that Whisper tiny.en transcribes with under ~10% WER and that sound distinct.
CLEAR_VOICES = ("en-us+m3", "en-us+klatt", "en-gb-x-rp+m1", "en-us", "en+m1", "en-us+croak")


class EspeakMissing(RuntimeError):
    pass


class UnknownVoice(ValueError):
    """espeak-ng has no voice of that name; ``voices`` lists every unknown one."""

    def __init__(self, voices: list[str]) -> None:
        self.voices = list(voices)
        names = ", ".join(repr(v) for v in self.voices)
        super().__init__(f"unknown espeak-ng voice{'s' if len(self.voices) > 1 else ''} {names} "
                         "(`espeak-ng --voices` lists the voices, `espeak-ng --voices=variant` the +variants)")


def _voice_missing(stderr: bytes) -> bool:
    return b"voice does not exist" in stderr


def check_voices(voices: list[str]) -> None:
    """Raise ``UnknownVoice`` naming every voice espeak-ng does not know (``EspeakMissing`` without espeak-ng).

    A voice is a language voice with an optional ``+variant``; espeak-ng itself falls back to
    the plain voice for an unknown variant, so only the voice before ``+`` must exist.
    """
    binary = espeak_binary()
    unknown = []
    for voice in dict.fromkeys(voices):
        if not voice or not voice.split("+", 1)[0]:
            unknown.append(voice)
            continue
        try:
            proc = subprocess.run([binary, "-v", voice, "-q", ""], capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue  # cannot tell here; synthesis reports it
        if proc.returncode != 0 and _voice_missing(proc.stderr):
            unknown.append(voice)
    if unknown:
        raise UnknownVoice(unknown)


def espeak_binary() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise EspeakMissing("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    return path


def synthesize(text: str, voice: str = "en-us+m3", rate: int = 16000, wpm: int = 160, pitch: int | None = None, word_gap_ms: int = 0) -> np.ndarray:
    """Speak ``text``; return mono float32 samples at ``rate``."""
    import soundfile as sf

    from ..audio.resample import StreamingResampler

    cmd = [espeak_binary(), "-v", voice, "-s", str(wpm), "--stdout"]
    if pitch is not None:
        cmd += ["-p", str(pitch)]
    if word_gap_ms:
        cmd += ["-g", str(max(1, word_gap_ms // 10))]
    proc = subprocess.run(cmd + [text], capture_output=True)
    if proc.returncode != 0:
        if _voice_missing(proc.stderr):
            raise UnknownVoice([voice])
        why = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        raise RuntimeError(f"espeak-ng failed for voice {voice!r}: {why[0]}")
    audio, sr = sf.read(io.BytesIO(proc.stdout), dtype="float32", always_2d=True)
    if sr != rate:
        r = StreamingResampler(sr, rate, 1)
        audio = np.concatenate([r.process(audio), r.flush()])
    return np.ascontiguousarray(audio[:, 0])


@dataclass
class Turn:
    """One utterance of a scripted conversation, with where it landed in the recording."""

    speaker: str
    text: str
    voice: str
    t0: float = 0.0
    t1: float = 0.0


@dataclass
class Conversation:
    audio: np.ndarray
    rate: int
    turns: list[Turn] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(t.text for t in self.turns)

    def seglst(self, session: str = "meeting") -> list[dict]:
        return [
            {"session_id": session, "speaker": t.speaker, "start_time": round(t.t0, 3), "end_time": round(t.t1, 3), "words": t.text}
            for t in self.turns
        ]


def conversation(script: list[tuple[str, str]], voices: dict[str, str] | None = None, rate: int = 16000, gap_s: float = 1.0, lead_s: float = 0.5) -> Conversation:
    """Concatenate turns ``(speaker, text)`` with ``gap_s`` of silence between them."""
    voices = dict(voices or {})
    for spk, _ in script:
        voices.setdefault(spk, CLEAR_VOICES[len(voices) % len(CLEAR_VOICES)])
    parts = [np.zeros(int(lead_s * rate), dtype=np.float32)]
    pos = len(parts[0])
    turns = []
    for spk, text in script:
        x = synthesize(text, voices[spk], rate)
        nz = np.flatnonzero(np.abs(x) > 1e-3)
        a, b = (nz[0], nz[-1] + 1) if len(nz) else (0, len(x))
        turns.append(Turn(spk, text, voices[spk], float(pos + a) / rate, float(pos + b) / rate))
        parts.append(x)
        pos += len(x)
        gap = np.zeros(int(gap_s * rate), dtype=np.float32)
        parts.append(gap)
        pos += len(gap)
    return Conversation(np.concatenate(parts), rate, turns)
