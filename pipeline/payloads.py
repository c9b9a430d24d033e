"""Payload types shared across the node library.

A port declares the payload class it carries; an edge is valid when the producer's class is
the consumer's class or a subclass of it (``object`` accepts anything). Payloads are plain
data (numpy arrays and numbers), so they cross threads and processes cheaply and every node
library can use them without importing another's heavy dependencies.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from .mediatime import media_time


@dataclass(slots=True)
class AudioBlock:
    """A block of PCM audio: ``samples`` is float32 of shape (frames, channels).

    ``start`` is the index of the first frame on the source's sample counter, so media time
    is exact: ``t0 = start / rate``. ``channels`` may be more than one (a microphone array).
    """

    samples: np.ndarray
    rate: int
    start: int

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def t0(self) -> float:
        return media_time(self.start, self.rate)

    @property
    def t1(self) -> float:
        return media_time(self.start + self.frames, self.rate)


@dataclass(slots=True)
class SpeechAudio:
    """Mono audio of one speech segment, delivered in chunks as the segment unfolds.

    A voice activity detector emits the chunks of segment ``segment_id`` as soon as it
    believes speech is present, so recognisers can produce partial results early. The last
    chunk has ``final=True`` and ``end`` set: the segment's last speech sample (exclusive),
    which may be earlier than the end of the audio already sent (the trailing silence that
    confirmed the end). ``discard`` marks a final chunk whose segment turned out not to be
    speech (too short); consumers drop it and retract anything they emitted for it.
    """

    segment_id: int
    samples: np.ndarray
    rate: int
    start: int
    final: bool = False
    end: int | None = None
    discard: bool = False

    @property
    def t0(self) -> float:
        return media_time(self.start, self.rate)

    @property
    def t1(self) -> float:
        return media_time(self.start + len(self.samples), self.rate)


@dataclass(slots=True)
class Word:
    """One recognised word with its media times and a confidence in [0, 1] (None if unknown)."""

    text: str
    t0: float
    t1: float
    confidence: float | None = None


Status = Literal["partial", "final"]


@dataclass(slots=True)
class TranscriptUpdate:
    """One revision of one transcript segment.

    Segments have stable ids. A recogniser emits any number of ``partial`` revisions and then
    one ``final``; later stages (diarisation) may re-emit a final segment with a higher
    ``revision`` and a new ``speaker``. A final with empty text and no words retracts the
    segment. Consumers keep, per segment id, the update with the highest revision.
    """

    segment_id: str
    status: Status
    t0: float
    t1: float
    text: str
    words: list[Word] = field(default_factory=list)
    speaker: str | None = None
    revision: int = 0
    azimuth_deg: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_final(self) -> bool:
        return self.status == "final"

    @property
    def retracted(self) -> bool:
        return self.status == "final" and not self.text.strip() and not self.words

    def to_json(self) -> dict[str, Any]:
        """The JSON object of one ``transcript.jsonl`` line (without the ``wall`` stamp)."""
        d = asdict(self)
        d["t0"] = round(self.t0, 3)
        d["t1"] = round(self.t1, 3)
        for w in d["words"]:
            w["t0"] = round(w["t0"], 3)
            w["t1"] = round(w["t1"], 3)
            if w["confidence"] is not None:
                w["confidence"] = round(w["confidence"], 4)
        if not d["extra"]:
            del d["extra"]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "TranscriptUpdate":
        words = [Word(w["text"], float(w["t0"]), float(w["t1"]), w.get("confidence")) for w in d.get("words", [])]
        return cls(
            segment_id=str(d["segment_id"]),
            status=d["status"],
            t0=float(d["t0"]),
            t1=float(d["t1"]),
            text=d.get("text", ""),
            words=words,
            speaker=d.get("speaker"),
            revision=int(d.get("revision", 0)),
            azimuth_deg=d.get("azimuth_deg"),
            extra=dict(d.get("extra", {})),
        )
