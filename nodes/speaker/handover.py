"""Where the voice alone placed a change of talker, it placed it one stretch late: move it back.

A stretch is the new 0.5 s of a sliding window, and its embedding hears the whole 1.5 s
window. When the next talker starts, the first window ending after the change is still mostly
the previous talker, so a label decided by the voice changes a stretch after the talker did.
Where the two talkers are heard in different places the direction turns at once (the run is
cut there: ``ahc_runs.location_cuts``) and the label changes on time; where they are heard
within the location cut's gate of each other (or without directions at all), only the voice
could have told the change, and it told it late.

Measured before building it, on the final labels of meetings 1-196 (label changes inside
speech: median 0.09 s after the nearest true turn start, but a quarter 0.5 s or more; of the
late ones not at an overlap's end, nearly all between stretches heard within 20 deg of each
other): moving every such change one stretch earlier took DER from 2.48% to 2.30% at 25 deg
(2.34% at 12 deg, 2.31% at 20 and 28 deg, 2.32% at 40 deg) and won a return (sim105); moving
every change regardless of direction made it worse (2.53%: those the direction placed were on
time). Built, refinement without the location term (whose stretches still carry the array's
directions) went 3.73% -> 3.14% with four returns won, and fed no directions at all, as from one
microphone, where every change is the voice's, 7.09% -> 5.94% with 18 won; the rest of what the
diariser then measured is in tools/diarization_notes.md ("nineteenth session").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .kalman_ahc import AhcConfig
from .units import Unit, wrap_deg

#: Stretches heard within this many degrees of each other could not have been told apart by place (the location cut's gate).
HANDOVER_DEG = 25.0
#: A stretch whose direction spreads at most this much was heard in one place (refinement's "well-located").
SHARP_DEG: float = AhcConfig.split_std_deg


def _placed_by_voice(a: Unit, b: Unit, max_deg: float, sharp_deg: float = SHARP_DEG) -> bool:
    """Whether the change from stretch ``a`` to ``b`` was the voice's to tell: no direction for one of them, or both
    heard within ``max_deg`` of each other, and, where ``a`` was heard in one place (spread at most ``sharp_deg``),
    ``b``'s direction blocks all there too (a stretch across a change of place has a mean between the two places,
    but some of its blocks beyond: the direction placed that change, ``ahc_runs.follow_straddlers``).

    The blocks are weighed against ``a``'s place only where ``a`` has one: a stretch heard under two
    talkers has a mean between them that is no one's place, and the next stretch's blocks at the
    talker's own place lie beyond it (sim920, 34.6 s: the old turn's tail under the new talker,
    whose places are 88 and -158 deg, heard at 117 deg with a spread of 33; the next stretch, the
    new talker alone, at 104 deg, its blocks at 86 and 154 deg; vetoed there, the new talker's
    turn, a return after 21 s, took the old talker's label: DER 2.2% -> 6.7%).
    """
    if a.azimuth_deg is None or b.azimuth_deg is None:
        return True
    if abs(float(wrap_deg(a.azimuth_deg - b.azimuth_deg))) >= max_deg:
        return False
    if b.blocks is None or not a.heard_in_one_place(sharp_deg):
        return True
    return bool(np.all(np.abs(wrap_deg(b.blocks[:, 1] - a.azimuth_deg)) < max_deg))


def move_voice_handovers(units: Sequence[Unit], labels: Sequence[int], max_deg: float = HANDOVER_DEG,
                         sharp_deg: float = SHARP_DEG) -> list[int]:
    """``labels`` (one per unit, units in time order) with each change of label that the voice placed moved one stretch
    earlier: the earlier run's last stretch takes the later run's label.

    Only inside one speech segment (across a pause the change is where the pause is), only
    when the earlier run keeps a stretch (a one-stretch run is left alone: moving it would
    erase it), and not beside a stretch whose direction blocks placed it (``Unit.placed``,
    ``ahc_runs.follow_straddlers``). Decided on the labels as given, so two changes never
    chain. ``max_deg`` 0: unchanged.
    """
    out = list(labels)
    if not max_deg:
        return out
    for k in range(2, len(units)):
        before, last, first = units[k - 2], units[k - 1], units[k]
        if first.segment is None or not (before.segment == last.segment == first.segment):
            continue
        if last.placed or first.placed:
            continue  # the direction blocks placed this change
        if labels[k - 1] != labels[k] and labels[k - 2] == labels[k - 1] and _placed_by_voice(last, first, max_deg, sharp_deg):
            out[k - 1] = labels[k]
    return out
