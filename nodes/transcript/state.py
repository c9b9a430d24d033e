"""The current state of a revisable transcript: the latest revision of every segment."""

from __future__ import annotations

from typing import Iterable

from pipeline.payloads import TranscriptUpdate


class TranscriptState:
    """Applies a stream of updates; keeps, per segment id, the newest revision.

    Stale revisions (lower than what is held) are ignored; a final with no text retracts
    its segment. ``finals()`` is what file formats render: every final segment, in order of
    start time.
    """

    def __init__(self) -> None:
        self._segments: dict[str, TranscriptUpdate] = {}

    def apply(self, update: TranscriptUpdate) -> bool:
        """Apply one update; return True if the set of final segments changed."""
        held = self._segments.get(update.segment_id)
        if held is not None and update.revision < held.revision:
            return False
        if update.retracted:
            self._segments.pop(update.segment_id, None)
            return held is not None and held.is_final
        self._segments[update.segment_id] = update
        return update.is_final or (held is not None and held.is_final)

    def finals(self) -> list[TranscriptUpdate]:
        return sorted((u for u in self._segments.values() if u.is_final), key=lambda u: (u.t0, u.segment_id))

    def partials(self) -> list[TranscriptUpdate]:
        return sorted((u for u in self._segments.values() if not u.is_final), key=lambda u: (u.t0, u.segment_id))

    def __len__(self) -> int:
        return len(self._segments)

    @classmethod
    def from_updates(cls, updates: Iterable[TranscriptUpdate]) -> "TranscriptState":
        state = cls()
        for u in updates:
            state.apply(u)
        return state
