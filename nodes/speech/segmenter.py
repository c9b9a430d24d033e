"""Turn frame-wise speech probabilities into speech segments, online.

A two-threshold state machine (hysteresis) in the spirit of Silero's reference segmenter,
reworked for streaming: a segment *starts* as soon as one frame crosses ``threshold`` (so
recognisers can begin at once), and *ends* once the probability has stayed below
``neg_threshold`` for ``min_silence`` samples; the end is the start of that silence plus
``pad``. Segments whose speech lasted less than ``min_speech`` are reported as discarded.
A segment reaching ``max_segment`` is split at its least speech-like frame in its second
half, so recognisers with a fixed window (Whisper: 30 s) are never overrun.

All positions are integer sample indices. Usable without the engine.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SegmentEvent:
    kind: str  # "start" or "end"
    sample: int
    discard: bool = False
    #: Where the speech itself starts ("start": the onset, without the pad) or ends ("end":
    #: where the closing silence began, without the pad).
    speech: int | None = None

    def shifted(self, offset: int) -> "SegmentEvent":
        return SegmentEvent(self.kind, self.sample + offset, self.discard, None if self.speech is None else self.speech + offset)


class Segmenter:
    def __init__(
        self,
        frame: int,
        threshold: float,
        neg_threshold: float,
        min_speech: int,
        min_silence: int,
        pad: int,
        max_segment: int,
    ) -> None:
        self.frame = frame
        self.threshold = threshold
        self.neg_threshold = neg_threshold
        self.min_speech = min_speech
        self.min_silence = min_silence
        self.pad = pad
        self.max_segment = max_segment
        self.triggered = False
        self.seg_start = 0
        self.onset = 0
        self.temp_end: int | None = None
        self.last_end = 0
        self._split_at: int | None = None
        self._split_prob = 2.0

    def step(self, index: int, prob: float) -> list[SegmentEvent]:
        """Feed the probability of frame ``index``; return the events it causes."""
        start = index * self.frame
        end = start + self.frame
        events: list[SegmentEvent] = []
        if not self.triggered:
            if prob >= self.threshold:
                self._begin(max(start - self.pad, self.last_end, 0), start)
                events.append(SegmentEvent("start", self.seg_start, speech=start))
            return events
        if prob >= self.threshold:
            self.temp_end = None
        elif prob < self.neg_threshold and self.temp_end is None:
            self.temp_end = start
        if self.temp_end is not None and end - self.temp_end >= self.min_silence:
            seg_end = min(self.temp_end + self.pad, end)
            discard = self.temp_end - self.onset < self.min_speech
            self.triggered = False
            self.last_end = seg_end
            events.append(SegmentEvent("end", seg_end, discard, speech=self.temp_end))
            return events
        if start >= self.seg_start + self.max_segment // 2 and prob < self._split_prob:
            self._split_prob = prob
            self._split_at = start + self.frame // 2
        if end - self.seg_start >= self.max_segment:
            split = self._split_at if self._split_at is not None else end
            events.append(SegmentEvent("end", split, False, speech=split))
            events.append(SegmentEvent("start", split, speech=split))
            self._begin(split, split)
        return events

    def _begin(self, seg_start: int, onset: int) -> None:
        self.triggered = True
        self.seg_start = seg_start
        self.onset = onset
        self.temp_end = None
        self._split_at = None
        self._split_prob = 2.0

    def finish(self, total: int) -> list[SegmentEvent]:
        """End of stream after ``total`` samples: close an open segment."""
        if not self.triggered:
            return []
        speech_end = self.temp_end if self.temp_end is not None else total
        seg_end = min(speech_end + self.pad, total)
        self.triggered = False
        self.last_end = seg_end
        return [SegmentEvent("end", seg_end, speech_end - self.onset < self.min_speech, speech=min(speech_end, total))]

    @property
    def pause_start(self) -> int | None:
        """Inside a segment: where the current (not yet closing) silence began, else None."""
        return self.temp_end if self.triggered else None
