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

    The segment's audio is padded (a detector keeps some audio before and after speech), so
    the detector also says where it judged the speech itself to be, as sample indices:
    ``speech_start`` (every chunk: the first speech sample), ``speech_end`` (final chunk:
    one past the last speech sample) and ``pause_start`` (a chunk sent while the speaker is
    silent but the segment is not yet closed: where that pause began; None while speech
    goes on). Latency figures count from these, and a recogniser may end an utterance
    early on a long enough pause. All three are None when the producer does not know.
    """

    segment_id: int
    samples: np.ndarray
    rate: int
    start: int
    final: bool = False
    end: int | None = None
    discard: bool = False
    speech_start: int | None = None
    speech_end: int | None = None
    pause_start: int | None = None

    @property
    def t0(self) -> float:
        return media_time(self.start, self.rate)

    @property
    def t1(self) -> float:
        return media_time(self.start + len(self.samples), self.rate)

    @property
    def split(self) -> bool:
        """A final chunk of a segment the detector cut inside speech (it reached its longest; no
        silence before ``end``): the audio after ``end`` comes again as the next segment, and
        what was sent of it before may already have been used."""
        return self.final and self.end is not None and self.speech_end is not None and self.speech_end >= self.end


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

    ``speech_t0`` and ``speech_t1`` are the media times of the first and (once known) last
    speech sample of the segment as the voice activity detector judged them, without its
    padding: the instants that first-partial and final latency are measured from.
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
    speech_t0: float | None = None
    speech_t1: float | None = None

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
        for key in ("speech_t0", "speech_t1"):
            if d[key] is None:
                del d[key]
            else:
                d[key] = round(d[key], 3)
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
            speech_t0=d.get("speech_t0"),
            speech_t1=d.get("speech_t1"),
        )


# -- microphone arrays ------------------------------------------------------------------------
# Azimuth everywhere: degrees, counter-clockwise from the array's +x axis, in (-180, 180].


@dataclass(slots=True)
class Spectrum:
    """STFT frames of (multichannel) audio: ``bins`` is complex64 of shape (frames, freqs, channels).

    Frame ``f`` covers samples ``[f * hop, f * hop + n_fft)`` of the source's sample counter,
    so its media time is exact; ``start`` is the index of the first frame in ``bins``.
    """

    bins: np.ndarray
    sample_rate: int
    n_fft: int
    hop: int
    start: int

    @property
    def frames(self) -> int:
        return int(self.bins.shape[0])

    def frame_time(self, f: int) -> float:
        """Media time of the start of frame ``start + f``."""
        return media_time((self.start + f) * self.hop, self.sample_rate)


@dataclass(slots=True)
class DirectionEstimate:
    """Directions of arrival found in one block of audio, strongest first.

    ``strength`` is each peak's height above the block's pseudo-spectrum median, relative to
    the spectrum's span (0-1: 1 for a clear single talker, low for diffuse noise or a weak
    second peak) and ``activity`` how far the block's level stood above the running
    background (0 silent - 1 loud), so trackers can gate.
    The pseudo-spectrum over ``grid_deg`` is kept when the node is asked to (plots, fusion).
    """

    azimuth_deg: np.ndarray
    strength: np.ndarray
    activity: float = 1.0
    grid_deg: np.ndarray | None = None
    spectrum: np.ndarray | None = None


@dataclass(slots=True)
class Track:
    """One tracked talker direction: a filtered azimuth and how sure the tracker is."""

    track_id: int
    azimuth_deg: float
    velocity_dps: float = 0.0
    std_deg: float = 0.0
    active: bool = True  # observed in the latest update (the talker is audible)
    last_seen: float = 0.0  # media time of the last observation


@dataclass(slots=True)
class Tracks:
    """Every track alive at the packet's time (including silent ones)."""

    tracks: list[Track] = field(default_factory=list)

    def by_id(self) -> dict[int, Track]:
        return {t.track_id: t for t in self.tracks}


# -- speakers -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Embedding:
    """A speaker embedding (L2-normalised float32 vector) of the audio in the packet's interval.

    ``segment_id`` ties it to a speech segment; ``kind`` says whether it covers the whole
    segment or one sliding window of it; ``end`` (no audio, an empty vector) says that a
    segment closed at ``end``, before the point its windows had reached while it was open.
    """

    vector: np.ndarray
    segment_id: str | None = None
    kind: Literal["segment", "window", "end"] = "segment"
    #: The audio's true span (the packet's t0 may be clamped so that t0 never decreases).
    start: float | None = None
    end: float | None = None
    #: Where the audio this window is the first to cover begins: the span [new_from, end]
    #: is what a streaming diariser labels with this window (None: the whole span).
    new_from: float | None = None
    #: The talker's pitch over the audio: median log2 of the fundamental frequency (Hz) of its
    #: voiced frames (None: too little voiced speech, or not measured), and those frames' seconds.
    pitch: float | None = None
    voiced_s: float = 0.0
    #: The timbre of the new stretch [new_from, end]: zeroth and first order statistics of its
    #: mean-normalised mel cepstra under the timbre background model (``nodes/speaker/timbre.py``;
    #: None: not measured). Statistics add: a run's is the sum of its windows'.
    timbre: np.ndarray | None = None


@dataclass(slots=True)
class SpeakerTurn:
    """A diariser's decision: ``speaker`` talks over ``[t0, t1]`` (from ``azimuth_deg`` when known).

    Turns have stable ids and may be revised (higher ``revision``) when a later pass
    relabels them; consumers keep the newest revision per id.
    """

    turn_id: str
    speaker: str
    t0: float
    t1: float
    azimuth_deg: float | None = None
    confidence: float | None = None
    revision: int = 0
    #: A second talker heard under the main one (overlapped speech): the main turn of the same
    #: moment carries the talker the words belong to; this one says who else spoke.
    overlap: bool = False
