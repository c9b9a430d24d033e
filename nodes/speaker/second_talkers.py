"""Overlap turns: the second talker the array hears under the main one, named and kept in step with relabels.

The diariser gives one label per moment; when two people talk at once the array's direction
peaks (``overlap.OverlapFinder``) point at both. This mixin of ``speaker.diarizer`` finds the
second talker under each stretch three ways (where each talker was last heard, ``_find_second``;
just behind a talker once they are heard clearly, ``_find_second_behind``; and after each
refinement with every talker's place interpolated around the stretch, ``_find_second_around``),
sends it as an extra turn marked ``overlap``, and re-sends or retracts that turn when a
relabel changes who the anchor stretches name. It is a mixin rather than a part of its own
because every decision reads the diariser's labels as they stand (``units``, ``out``) and sends
through its turn stream; kept apart so that the node's module holds the labelling, and this
one what is heard under it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pipeline import SpeakerTurn

from .overlap import OverlapFinder, places_between
from .units import Unit, circular_mean

if TYPE_CHECKING:
    from .diarizer_params import DiarizerParams


class SecondTalkers:
    """The overlap-turn half of ``speaker.diarizer`` (see the module docstring); the node holds the state named below."""

    # set by the diariser (Diarizer.open)
    id: str
    params: DiarizerParams
    units: list[Unit]
    out: list[int]
    _first: int
    overlap: OverlapFinder
    # unit -> (second talker's label as sent (-1: retracted), anchor unit naming them, revision, anchor unit naming the main talker)
    second: dict[int, tuple[int, int, int, int]]
    overlaps: int

    def _end(self, i: int) -> float:
        raise NotImplementedError

    def _emit_turn(self, turn: SpeakerTurn) -> None:
        raise NotImplementedError

    def _places(self, i: int, per_label: int = 3, lookback: int = 2000) -> dict[int, tuple[float, int]]:
        """Where each talker was last heard before unit ``i``: (circular mean azimuth of their last
        located stretches, the newest of those stretches: the anchor that names them)."""
        seen: dict[int, list[float]] = {}
        anchor: dict[int, int] = {}
        for j in range(i - 1, max(self._first, i - lookback) - 1, -1):
            az = self._clear_place(self.units[j])
            if az is None:
                continue
            lab = self.out[j]
            got = seen.setdefault(lab, [])
            if len(got) < per_label:
                got.append(az)
                anchor.setdefault(lab, j)
        return {lab: (circular_mean(np.array(az), np.ones(len(az)))[0], anchor[lab]) for lab, az in seen.items()}

    def _clear_place(self, u: Unit) -> float | None:
        """Stretch ``u``'s azimuth when it was located from one place (None when unlocated, or heard from two places at
        once: overlap mixes the mean)."""
        return u.azimuth_deg if u.heard_in_one_place(self.params.overlap_gate_deg / 2) else None

    def _places_under(self, i: int) -> dict[int, tuple[float, int]]:
        """``_places(i)``, and the main talker's place from stretch ``i`` itself when they have none yet (a new talker)."""
        places = self._places(i)
        u = self.units[i]
        if self.out[i] not in places and u.azimuth_deg is not None:
            places[self.out[i]] = (u.azimuth_deg, i)
        return places

    def _find_second(self, i: int) -> None:
        """Label a second talker under unit ``i`` when the array's peaks keep pointing at their place."""
        u = self.units[i]
        if not self.overlap.two_heard(u.t0, u.t1):
            return  # one peak per block: nobody under the main talker (and no scan of the past)
        places = self._places_under(i)
        main = self.out[i]
        found = self.overlap.find(u.t0, u.t1, main, {k: az for k, (az, _) in places.items()})
        if found:
            lab = found[0]
            self._name_second(i, lab, places[lab][1], places[main][1], places[lab][0])

    def _find_second_behind(self, j: int) -> None:
        """Label stretch ``j``'s talker under the stretches just before it, where the peaks point at ``j``'s place.

        ``_find_second`` looks for known talkers where they were last heard, but a talker who
        starts under the one before them has often moved since (a walker back from a silence)
        or is new: where they stand shows only once they are heard alone. When a stretch is
        located clearly, the stretches of the last ``overlap_behind_s`` seconds under another
        label are checked again with that place: peaks there and at their main talker's place
        in the same blocks mean both spoke, and ``j``'s label gets an overlap turn over them
        (anchored on ``j``, so it follows ``j``'s relabels). Measured in
        tools/diarization_notes.md ("Overlap named by where a talker is heard next").
        """
        u = self.units[j]
        here = self._clear_place(u)
        if here is None:
            return
        lab = self.out[j]
        for i in range(j - 1, self._first - 1, -1):
            v = self.units[i]
            if v.t1 < u.t0 - self.params.overlap_behind_s:
                break
            if i in self.second or self.out[i] == lab or not self.overlap.two_heard(v.t0, v.t1):
                continue
            places = self._places_under(i)
            places[lab] = (here, j)  # where they are heard now, not where they were heard before
            if lab in self.overlap.find(v.t0, v.t1, self.out[i], {k: az for k, (az, _) in places.items()}):
                self._name_second(i, lab, j, places[self.out[i]][1], here)

    def _find_second_around(self, first: int) -> None:
        """After a refinement, look again under each recent stretch for a second talker, with every
        talker's place taken from the refined labels on both sides of it in time.

        The live finders place a talker where their stretches were last heard under the labels
        of the moment (``_find_second``) or, once they are heard clearly, just behind
        (``_find_second_behind``); both miss a walker who had moved since (the main talker's own
        place, too, drifts 10-20 deg over an overlap), and both go by live labels a refinement
        may change. Here each label's place at a stretch is interpolated between its nearest
        clear stretches before and after (within ``overlap_around_s``), under the labels just
        refined. A talker found this way replaces a different one the live finders named (it
        goes by better places); where it finds nobody, what they named stays. Only stretches
        whose direction blocks the finder still holds (10 s) are examined, so each is looked at
        by one or two passes. Measured in tools/diarization_notes.md ("seventeenth session").
        """
        w = self.params.overlap_around_s
        since = self.overlap.oldest
        if w <= 0 or since is None:
            return
        start = len(self.units)
        while start > first and self.units[start - 1].t1 >= since:
            start -= 1
        if start == len(self.units):
            return
        lo = start
        while lo > first and self.units[lo - 1].t0 >= self.units[start].t0 - w:
            lo -= 1
        clear: list[tuple[float, int, int, float]] = []  # (time, label, stretch, azimuth) of the clearly located stretches
        for k in range(lo, len(self.units)):
            az = self._clear_place(self.units[k])
            if az is not None:
                clear.append((0.5 * (self.units[k].t0 + self.units[k].t1), self.out[k], k, az))
        for i in range(start, len(self.units)):
            u = self.units[i]
            if not self.overlap.two_heard(u.t0, u.t1):
                continue
            places = places_between(0.5 * (u.t0 + u.t1), w, clear)
            main = self.out[i]
            if main not in places:
                continue
            found = self.overlap.find(u.t0, u.t1, main, {k: az for k, (az, _) in places.items()})
            if found and (i not in self.second or self.second[i][0] != found[0]):
                lab = found[0]
                self._name_second(i, lab, places[lab][1], places[main][1], places[lab][0])

    def _name_second(self, i: int, lab: int, anchor: int, main_anchor: int, az: float) -> None:
        """Name ``lab`` the second talker under unit ``i`` (anchored on stretch ``anchor``, the main
        talker on ``main_anchor``) and send it: a new overlap turn, or the next revision of one."""
        if i in self.second:
            rev = self.second[i][2] + 1
        else:
            rev = 0
            self.overlaps += 1
        self.second[i] = (lab, anchor, rev, main_anchor)
        self._send_second(i, lab, az)

    def _send_second(self, i: int, lab: int | None, az: float | None = None) -> None:
        """(Re)send unit ``i``'s second talker; ``None`` retracts it (an empty turn, higher revision)."""
        u = self.units[i]
        rev = self.second[i][2]
        t1 = self._end(i) if lab is not None else u.t0
        self._emit_turn(SpeakerTurn(f"{self.id}-{i:06d}-o", f"spk{(lab if lab is not None else self.out[i]) + 1}", u.t0, t1, az, None,
                                    rev, overlap=True))

    def _reconcile_second(self, i: int) -> None:
        """Unit ``i`` or the stretch that named its second talker was relabelled: follow (or retract)."""
        lab, anchor, _, main_anchor = self.second[i]
        if self.out[anchor] == self.out[i]:  # the second talker is now the main one: the first main talker was heard there too
            anchor = main_anchor
        new = self.out[anchor] if self.out[anchor] != self.out[i] else None  # both now carry the main label: retract
        if new == (lab if lab >= 0 else None):
            return
        self._revise_second(i, new)

    def _revise_second(self, i: int, lab: int | None) -> None:
        """Re-send unit ``i``'s second talker one revision up, as ``lab`` (None: retracted)."""
        _, anchor, rev, main_anchor = self.second[i]
        self.second[i] = (lab if lab is not None else -1, anchor, rev + 1, main_anchor)
        heard = main_anchor if lab is not None and self.out[anchor] != lab else anchor  # the anchor that carries their label now
        self._send_second(i, lab, self.units[heard].azimuth_deg)
