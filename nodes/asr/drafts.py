"""What the cascade's first pass hands its second pass: speech audio with a draft transcript.

``DraftSpeech`` is ``SpeechAudio`` (so any recogniser that takes speech segments accepts
it) re-cut into the first pass's utterances, each chunk carrying the first pass's current
hypothesis. The second pass publishes the drafts as partial results and replaces them
with its own final for the same segment id, so a viewer sees fast rough text settle into
accurate text in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline import SpeechAudio, Word


@dataclass(slots=True)
class Draft:
    """The first pass's view of one utterance so far.

    ``key`` is the transcript segment id the utterance's updates use. ``text`` is the
    current hypothesis. On the utterance's final chunk, ``words`` holds the first pass's
    words with media times (confidence: its acoustic score mapped to 0-1) and ``closed``
    says that the voice activity detector closed its segment too (no more audio follows
    until new speech), rather than the first pass ending the utterance on a pause.
    """

    key: str
    text: str = ""
    words: list[Word] = field(default_factory=list)
    closed: bool = False


@dataclass(slots=True)
class DraftSpeech(SpeechAudio):
    """A chunk of one first-pass utterance, with the first pass's draft (None between utterances)."""

    draft: Draft | None = None
