"""Live labels named by voice: a run of the live diariser's label takes the speaker it sounds like.

The live diariser (the particle filter; online clustering for mono) names each stretch as it
comes, and a stretch that follows on in its speech segment stays with the talker of the one
before (``p_stay``, ``stay_bonus``). So a run of one talker is named by its first stretch: a
0.75 s window, which says little about who speaks, and where it was heard, which says little
about a walker back from a silence. On the 196 simulated meetings a talker back after 10 s or
more showed their earlier label 1 s into the return in 57.6% of returns; on meetings 1-100, an
offline check that named the stretches heard by then by the closest speaker's mean voice, over
the labels shown at that moment, got 75.7% where the live labels got 59.8%; built, 63.8% on all
196 (2 s in: 83.2% -> 87.4%; mono 42.5% -> 47.1% at 1 s).

So the label of each run (stretches of one live label inside one speech segment) is decided
again at each of its first ``stretches`` stretches, from the sum of its embeddings so far: the
speaker whose mean embedding over the stretches shown under their label (and their remembered
voice, past the refinement horizon) it is closest to in cosine, the diariser's own choice
favoured by ``bonus``. A run the diariser took for a new talker stays new unless its voice
agrees with a known speaker's mean as well as that speaker's own stretches do (their
``birth_quantile`` percentile): a new voice is closer to some known speaker than to nobody, and
how close two people sound to the encoder depends on the room and the microphones (raw cosines
across espeak voices in the simulated rooms about 0.66, across real far-field voices 0.75 and
more), so the bar is set by each speaker's own spread, not by one number. The decision then
holds for the run; within its segment, the diariser's label stands for that talker, so when its
fixed-lag smoothing moves a stretch from one of its labels to another, the stretch moves between
the talkers those labels were found to be. Refinement passes relabel as before and start every
run afresh. Measured side by side (bench modes ``pf+kahc-novoicecheck``,
``embedding+ahc-novoicecheck``): ``tools/diarization_notes.md``, "Live labels named by voice".

A run's first window is 0.75 s and its next ones reach 1 s back into whoever spoke before, so
its embeddings say little at first; its timbre (``timbre.py``: the cepstral statistics of each
stretch's own new 0.5 s) says more, and most about the voices the encoder hears alike. So each
candidate's score also adds ``timbre_weight`` times the cosine of the run's timbre supervector
with the label's (both MAP-adapted, shifted from the candidates' pooled means, as refinement
compares clusters). Beside the embeddings alone (bench modes ``pf+kahc-vcnotimbre``,
``embedding+ahc-vcnotimbre``), meetings 101-128 held out: live DER at 0 s 16.9% -> 16.0% (speech
of talkers heard 10 s or more before: 6.4% -> 4.9%), returns right 1 s in 143 -> 149 of 185;
mono 21.0% -> 17.5%, 99 -> 111; final labels unchanged (``tools/diarization_notes.md``, "Timbre
in the live voice check").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .timbre import TimbreUbm, add_stats
from .units import Unit, unit_vector


@dataclass
class VoiceCheckConfig:
    stretches: int = 6  # a run's first this many stretches (0.5 s apart: its first 3 s) decide its label
    bonus: float = 0.05  # cosine added for the live filter's own choice
    birth_quantile: float = 25.0  # a run the filter took for a new talker joins a known speaker only as close to their mean
    # as this percentile of their own stretches' cosines to it
    min_stretches: int = 3  # a speaker with fewer stretches than this is not a candidate (too little voice to compare)
    timbre_weight: float = 0.5  # weight of the timbre supervectors' cosine beside the GE2E one (0: the voice alone)
    timbre_relevance: float = 16.0  # MAP relevance factor (frames), as refinement's


class Voice(NamedTuple):
    mean: np.ndarray  # unit vector of their mean embedding
    stretches: int  # stretches behind it
    fit: float  # how well their own stretches agree with it: a percentile of their cosines to it (nan: not measured)
    timbre: np.ndarray | None = None  # sum of their stretches' timbre statistics (None: none measured)


Voices = dict[int, Voice]


@dataclass
class _Run:
    segment: str | None
    filtered: int  # the live filter's label for the run (an output label)
    voices: Voices  # the candidates, as shown when the run began
    last: int  # its newest stretch
    checked: list[int] = field(default_factory=list)  # the stretches whose voices decided it
    total: np.ndarray | None = None  # sum of their unit embeddings
    timbre: np.ndarray | None = None  # sum of their timbre statistics
    shown: int = -1


class RunVoiceCheck:
    """Names the runs of a live labelling by voice; see the module docstring."""

    def __init__(self, config: VoiceCheckConfig | None = None, ubm: TimbreUbm | None = None) -> None:
        self.config = config or VoiceCheckConfig()
        self.ubm = ubm if self.config.timbre_weight else None
        self._run: _Run | None = None
        self._segment_of: dict[int, str | None] = {}  # recent stretch -> its segment, while the filter may still re-send it
        self._alias: dict[tuple[str | None, int], int] = {}  # (segment, the filter's label there) -> the talker shown for it
        self.changed = 0  # runs whose label the voice changed from the filter's

    def label(self, unit: Unit, filtered: int, voices: Callable[[], Voices]) -> tuple[int, list[int]]:
        """The label to show for ``unit``, which the live filter labelled ``filtered``, and the
        earlier stretches of its run to re-send under it (the run's label changed).

        ``voices`` gives the candidates (label -> mean voice, stretches) from the labels shown
        before this stretch; it is asked once per run.
        """
        run = self._run
        if run is None or unit.segment != run.segment or filtered != run.filtered or unit.index != run.last + 1:
            run = self._run = _Run(unit.segment, filtered, voices(), unit.index)
        run.last = unit.index
        self._segment_of[unit.index] = unit.segment
        self._segment_of.pop(unit.index - 65, None)  # stretches come one index at a time: keep the last 65
        if len(run.checked) >= self.config.stretches:
            return run.shown, []
        v = unit_vector(np.asarray(unit.vector, dtype=np.float64))
        run.total = v if run.total is None else run.total + v
        run.timbre = add_stats(run.timbre, unit.timbre)
        run.checked.append(unit.index)
        before = run.shown
        run.shown = self._choose(run)
        self._alias[(unit.segment, filtered)] = run.shown
        while len(self._alias) > 64:  # the oldest first (a dict keeps the order keys came in)
            del self._alias[next(iter(self._alias))]
        if before < 0 or run.shown == before:
            return run.shown, []
        self.changed += 1
        return run.shown, run.checked[:-1]

    def _choose(self, run: _Run) -> int:
        c = self.config
        assert run.total is not None  # a run is chosen for once it has heard a stretch
        x = unit_vector(run.total)
        known = {lab: v for lab, v in run.voices.items() if v.stretches >= c.min_stretches}
        if not known:
            return run.filtered
        voice = {lab: float(v.mean @ x) for lab, v in known.items()}
        scores = {lab: voice[lab] + (c.bonus if lab == run.filtered else 0.0) for lab in known}
        for lab, t in self._timbre(run, known).items():
            scores[lab] += c.timbre_weight * t
        best = max(scores, key=scores.__getitem__)
        if run.filtered not in known and not voice[best] >= known[best].fit:  # (never, when the fit is not known)
            return run.filtered  # the filter's new (or barely heard) talker, and no known voice close enough
        return best

    def _timbre(self, run: _Run, known: Voices) -> dict[int, float]:
        """The cosine of the run's timbre supervector with each candidate's, both shifted from the candidates' pooled
        adapted means (as refinement compares clusters); empty without a background model or statistics."""
        if self.ubm is None or run.timbre is None or any(v.timbre is None for v in known.values()):
            return {}
        labs = list(known)
        stats = np.stack([t for lab in labs if (t := known[lab].timbre) is not None])
        around = self.ubm.adapted_means(stats.sum(axis=0), self.config.timbre_relevance)
        sv = self.ubm.supervector(np.vstack([stats, run.timbre[None]]), around, self.config.timbre_relevance)
        sv /= np.maximum(np.linalg.norm(sv, axis=1, keepdims=True), 1e-12)
        return {lab: float(sv[-1] @ sv[k]) for k, lab in enumerate(labs)}

    def shown(self, i: int, filtered: int) -> int:
        """What stretch ``i`` shows when the live filter (re)labels it ``filtered`` (its fixed-lag smoothing):
        within the stretch's segment, the talker the voice found the filter's label to be, else the filter's
        label. So a filter that moves a stretch to another of its labels moves it to that run's talker."""
        if i not in self._segment_of:
            return filtered
        return self._alias.get((self._segment_of[i], filtered), filtered)

    def reset(self) -> None:
        """A refinement pass relabelled the past: every run starts afresh from its labels."""
        self._run = None
        self._segment_of.clear()
        self._alias.clear()


def mean_voices(vectors: np.ndarray, labels: list[int], extra: dict[int, tuple[np.ndarray, int]] | None = None,
                quantile: float = VoiceCheckConfig.birth_quantile, timbres: list[np.ndarray | None] | None = None,
                extra_timbre: dict[int, np.ndarray | None] | None = None) -> Voices:
    """Each label's voice over ``vectors`` (rows, one per stretch shown under ``labels``), with ``extra`` voices
    (label -> (sum of unit embeddings, stretches): remembered from before the horizon) added in.

    A label's fit is the ``quantile`` percentile of its own stretches' cosines to their mean (three or more);
    a label known only from ``extra`` is taken to agree with itself as the others do (their median fit).
    ``timbres`` (one per row, None where not measured) and ``extra_timbre`` (label -> remembered sum) give each
    label's summed timbre statistics, for the check's timbre term.
    """
    sums: dict[int, tuple[np.ndarray, int]] = dict(extra or {})
    fits: dict[int, float] = {}
    if len(labels):
        v = np.asarray(vectors, dtype=np.float64)
        v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        lab = np.asarray(labels)
        for k in np.unique(lab):
            sel = lab == k
            s, n = sums.get(int(k), (np.zeros(v.shape[1]), 0))
            sums[int(k)] = (s + v[sel].sum(axis=0), n + int(sel.sum()))
            if sel.sum() >= 3:
                fits[int(k)] = float(np.percentile(v[sel] @ unit_vector(v[sel].sum(axis=0)), quantile))
    typical = float(np.median(list(fits.values()))) if fits else float("nan")
    tstats: dict[int, np.ndarray | None] = dict(extra_timbre or {})
    measured = [(k, t) for k, t in enumerate(timbres or []) if t is not None]
    if measured:
        stats = np.stack([t for _, t in measured]).astype(np.float64)
        lab = np.asarray(labels)[[k for k, _ in measured]]
        for k in np.unique(lab):
            tstats[int(k)] = add_stats(tstats.get(int(k)), stats[lab == k].sum(axis=0))
    return {k: Voice(unit_vector(s), n, fits.get(k, typical), tstats.get(k)) for k, (s, n) in sums.items() if n > 0}
