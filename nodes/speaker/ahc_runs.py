"""The starting clusters of a refinement: runs of one online label, and where they must be cut.

Kalman-AHC (``kalman_ahc``) does not start from single stretches, whose 0.5 s directions and
1.5 s embeddings are too noisy to cluster one by one, nor from the online diariser's speakers,
whose mistakes it could then only merge, never undo. It starts from runs: consecutive stretches
that the online diariser gave one label inside one speech segment. The online labels lag a
change of talker (the embedding window still holds the previous voice) and mislabel a segment's
first, short windows, so the runs are first tidied (a segment's onset joins the run after it; a
lone stretch at a change of talker joins the neighbour it was heard at) and then cut where the
direction jumps further than the talker could have walked or where the voice changes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Container
from typing import TYPE_CHECKING

import numpy as np

from .units import Unit, direction_of_blocks, wrap_deg

if TYPE_CHECKING:
    from .kalman_ahc import AhcConfig


def mid(u: Unit) -> float:
    """A stretch's middle (s): where its direction is taken to have been heard."""
    return 0.5 * (u.t0 + u.t1)


def opening(u: Unit, full_s: float) -> bool:
    """Whether a stretch's window is one of a segment's shorter opening ones (under the full ``full_s``)."""
    return u.window_s < 0.95 * full_s


def onsets_heard_elsewhere(units: list[Unit], c: AhcConfig) -> dict[int, tuple[float, float]]:
    """The opening stretches heard mostly away from where their segment goes on: index -> (direction, spread) of the blocks
    heard away.

    ``follow_onsets`` lets a segment's opening stretches take the label of the stretch after
    them, since a segment rarely changes talker in its first second. It does when one talker
    starts and another talks over them half a second later: the voice activity detector hears
    one segment, and the first talker's onset, often all they said alone, went to the other
    (sim373: a seated talker's first words, three of five blocks at their place, 148 deg from
    the talker who took over; sim274: a walker back at a new place, 107 deg from the talker
    who took over). Such an onset is vague (its mean over the window lies between the two
    talkers), but its direction blocks (0.16 s each) are sharp: when most of their weight lies
    further than ``split_deg`` from the segment's first well-located full stretch (plus a brisk
    walk, ``split_speed_dps``, for the time between them: a walker's onset is not cut from the
    rest of their turn), the onset keeps its own label, and is located by those blocks alone.
    The caller keeps that place on the stretch (``Unit.relocated``): the later passes find the
    same, and the look-again pass for second talkers (``second_talkers.py``) hears the first talker
    there. A sharp onset far from its segment is left to the location cut. On the 362 cached
    90 s meetings it changed two (sim274 2.89 -> 1.56%, sim373 2.65 -> 1.37%, each a return won).
    """
    out: dict[int, tuple[float, float]] = {}
    if not units or not c.split_deg:
        return out
    full = max(u.window_s for u in units)
    leader: Unit | None = None  # the segment's first well-located full stretch after the one looked at
    for i in range(len(units) - 2, -1, -1):
        u, nxt = units[i], units[i + 1]
        if nxt.segment != u.segment:
            leader = None
        elif not opening(nxt, full) and well_located(nxt, c):
            leader = nxt
        if leader is None or u.segment is None or not opening(u, full) or u.blocks is None or not len(u.blocks):
            continue
        if well_located(u, c) and not u.relocated:
            continue  # a sharp onset far from the rest is the location cut's (``location_cuts``)
        assert leader.azimuth_deg is not None
        t, az, w = u.blocks[:, 0], u.blocks[:, 1], u.blocks[:, 2]
        far = np.abs(wrap_deg(az - leader.azimuth_deg)) > c.split_deg + c.split_speed_dps * np.abs(mid(leader) - t)
        if float(w[far].sum()) > 0.5 * float(w.sum()):
            out[i] = direction_of_blocks(az[far], w[far])  # as the diariser locates a stretch
    return out


def follow_onsets(units: list[Unit], labels: list[int], stay: Container[int] = ()) -> list[int]:
    """Give a segment's opening stretches (windows shorter than the full ones) the label of the stretch after them.

    A segment's first windows hold under a second of speech and look alike whoever speaks
    (measured on the simulated meetings: cosine 0.67 between onsets of different talkers,
    as high as an onset's to its own talker's mean), so the online labels of onsets drift to
    one "onset speaker", and as runs of their own they cluster together. Speech segments
    rarely change talker within their first second, so an onset joins the run that follows,
    except those in ``stay`` (``onsets_heard_elsewhere``: heard where another talker was not).
    """
    if not units:
        return labels
    full = max(u.window_s for u in units)
    out = list(labels)
    for i in range(len(units) - 2, -1, -1):
        u, nxt = units[i], units[i + 1]
        if opening(u, full) and nxt.segment == u.segment and u.segment is not None and i not in stay:
            out[i] = out[i + 1]
    return out


def follow_lone(units: list[Unit], labels: list[int], c: AhcConfig) -> list[int]:
    """Give a lone stretch (a run of one, between two other labels in its segment) the label of the neighbour it was heard at.

    At a change of talker inside one speech segment, the online labels may give the stretch
    that straddles it a label of its own (often a third talker's: its 1.5 s window mixes the
    two voices). As a run it is too short for the reassignment to move, so it stays in that
    third talker's cluster and ruins its location track: a direction 100 degrees off in half a
    second costs up to ``loc_clip`` nats at that hand-over (sim76: a walker's two clusters,
    cosine 0.6, kept apart by one such stretch). Directions are sharp at a change of talker,
    so when the stretch lies within ``split_deg`` of one neighbour and further from the other,
    it joins the one it is near. It moved 14 stretches in all the passes over meetings 1-36
    (DER and returns kept unchanged there and on 37-68); on the fresh meetings 69-100 it won
    sim76's lost return (DER 6.1% -> 5.8%, 204 -> 205 of 205 kept), found by looking at it.
    """
    out = list(labels)
    for i in range(1, len(units) - 1):
        a, u, b = units[i - 1], units[i], units[i + 1]
        if not (labels[i - 1] != labels[i] != labels[i + 1] and a.segment == u.segment == b.segment and u.segment is not None):
            continue
        if not all(well_located(x, c) for x in (a, u, b)):
            continue
        near = [abs(wrap_deg(u.place - x.place)) for x in (a, b)]
        if min(near) <= c.split_deg < max(near):
            out[i] = labels[i - 1] if near[0] < near[1] else labels[i + 1]
    return out


def follow_straddlers(units: list[Unit], labels: list[int], c: AhcConfig, placed: set[int] | None = None) -> list[int]:
    """Give a stretch heard across a change of place the label of the side that holds most of it.

    When the next talker takes over inside one speech segment, the stretch across the
    change hears both: its mean direction lies between the two places with a wide spread, so
    neither the location cut nor ``follow_lone`` (which want sharp stretches) can place it, and
    it keeps the online label, which lags the change (the 1.5 s window still holds the previous
    voice). Its direction blocks (0.16 s each) are sharp, though: each was heard at one of the
    two places. Where a run ends (or starts) with such a vague stretch, between sharp stretches
    of the two labels more than ``split_deg`` apart, each block is taken for the nearer of the
    two places; when the blocks change place once, the change is put halfway between the last
    block of one and the first of the other, and the stretch goes to the side that holds most
    of its time (blocks that alternate: to the side holding most of their weight).

    The change may leave two vague stretches in a row (``straddle_chain``): the one across it and
    the next, heard while the new talker's first words were quiet (few active blocks, so it is
    located over its whole window, which still holds the change). Each is placed by its own
    blocks between the nearest sharp stretches either side (sim951 at 3081 s: a seated talker's
    return after 14 s, 70 deg from the talker before her, kept its label only so). Longer vague
    spans are overlapped speech, left to the look-again pass. The stretches placed here are
    marked (``placed``) so that ``move_voice_handovers``, which moves a change the voice placed,
    leaves a change the blocks placed: beside a vague neighbour its means alone look like one
    place (sim132: the change moved a stretch early).
    """
    out = list(labels)
    if not c.split_deg:
        return out
    n, chain = len(units), max(c.straddle_chain, 1)
    for i in range(1, n - 1):
        u = units[i]
        if u.segment is None or u.blocks is None or well_located(u, c):
            continue
        # the sharp stretches either side, across at most ``chain`` vague ones in all (the walks stop one past that)
        lo, hi = i - 1, i + 1
        while lo >= 0 and i - lo <= chain and units[lo].segment == u.segment and not well_located(units[lo], c):
            lo -= 1
        while hi < n and hi - i <= chain and units[hi].segment == u.segment and not well_located(units[hi], c):
            hi += 1
        if lo < 0 or hi >= n or hi - lo - 1 > chain:
            continue
        a, b = units[lo], units[hi]  # well located unless of another segment
        if not (a.segment == u.segment == b.segment) or labels[lo] == labels[hi]:
            continue
        if any(labels[k] not in (labels[lo], labels[hi]) for k in range(lo + 1, hi)):
            continue
        pa, pb = a.azimuth_deg, b.azimuth_deg
        assert pa is not None and pb is not None
        if abs(wrap_deg(pa - pb)) <= c.split_deg:
            continue
        t, az, w = u.blocks[:, 0], u.blocks[:, 1], u.blocks[:, 2]
        to_a = np.abs(wrap_deg(az - pa)) < np.abs(wrap_deg(az - pb))
        flips = np.flatnonzero(to_a[1:] != to_a[:-1])
        if len(flips) == 0:
            share_a = 1.0 if to_a[0] else 0.0
        elif len(flips) == 1:
            k = int(flips[0])
            # (a short stretch is located over its whole window, so the change may fall before it: clipped)
            first = min(1.0, max(0.0, (0.5 * (t[k] + t[k + 1]) - u.t0) / max(u.t1 - u.t0, 1e-9)))
            share_a = first if to_a[0] else 1.0 - first
        else:
            share_a = float(w[to_a].sum() / max(float(w.sum()), 1e-12))
        if share_a != 0.5:
            out[i] = labels[lo] if share_a > 0.5 else labels[hi]
            if placed is not None:
                placed.add(i)
    return out


def pause_between(a: Unit, b: Unit) -> float:
    """The silence (s) between the last direction block of stretch ``a`` and the first of ``b`` after it; 0 without blocks.

    Blocks are the clear 0.16 s direction blocks a stretch was located from (a short stretch's
    blocks reach back over its whole window, so only ``b``'s blocks after ``a``'s last one count).
    ``location_cuts`` passes the run's last well-located stretch as ``a``: a vague stretch between
    the two is not looked at, so its blocks may fill what is counted as a pause.
    """
    if a.blocks is None or b.blocks is None or not len(a.blocks) or not len(b.blocks):
        return 0.0
    end = float(a.blocks[:, 0].max())
    after = b.blocks[b.blocks[:, 0] > end, 0]
    return float(after.min()) - end if len(after) else 0.0


def well_located(u: Unit, c: AhcConfig) -> bool:
    """Whether a stretch's direction is sharp enough to cut or relabel on (spread at most ``split_std_deg``)."""
    return u.heard_in_one_place(c.split_std_deg)


def location_cuts(units: list[Unit], labels: list[int], c: AhcConfig) -> list[bool]:
    """Where a run of one label must be cut because its talker could not have got there.

    Within a run, each well-located stretch is predicted from the run's last well-located one
    moved on at the velocity of the last second (walking talkers keep going; with less than a
    second of past, a brisk walk of ``split_speed_dps`` is allowed); a stretch heard further
    than ``split_deg`` from the prediction starts a new run. The online labels follow
    a 1.5 s embedding window, which still holds the previous talker when the next one starts
    within the same speech segment; the direction turns at once. On the simulated meetings
    1-24 cutting there took DER from 5.8% to 4.5% and label persistence from 146 to 149 of 152
    returns (held out, 25-36: 7.7% -> 7.2%, 75 -> 76 of 80); without the velocity, talkers
    walking fast past the array were cut too (149 -> 146); a velocity over 0.5 s cut seated
    talkers on direction noise.

    A run that opens with vaguer stretches only (a turn's tail, overlapped or fading: spread
    over ``split_std_deg``) has no well-located past to predict from; its first well-located
    stretch is then compared with the last vague one, through a gate widened by
    ``split_vague_k`` of its spreads. Without it a run holding one walker's fading tail and
    the next talker's first second, 170 degrees away, bound the two into one cluster and made
    the walker's later turns a stranger (sim48); on meetings 1-36 nothing changed, on 37-68
    DER 5.38% -> 5.33%.

    Across a pause inside the segment (``split_pause_s`` between the two stretches' direction
    blocks), the gate narrows to ``split_pause_deg``: talkers change at pauses, and one who
    resumes stands where they stopped (a walker where their velocity puts them), so a smaller
    jump tells. sim378 at 36.1 s: the en-us+m3 walker stops at -175 deg, the en-gb-x-rp+m1 walker
    answers 0.4 s later at 161 deg (24 deg away, inside the 25 deg gate) in the same segment and
    under the same live label; the run held both, and with a piece of the first walker's earlier
    turn became a third talker (DER 12.7%, a return lost; cut: 4.0%, kept).
    """
    cuts = [False] * len(units)
    if not c.split_deg:
        return cuts
    seen: deque[Unit] = deque(maxlen=8)  # the run's last well-located stretches (a few seconds)
    vague: Unit | None = None  # the run's last stretch located less well
    for i, u in enumerate(units):
        prev = units[i - 1] if i else None
        if prev is None or labels[i] != labels[i - 1] or u.segment != prev.segment:
            seen.clear()
            vague = None
        if u.azimuth_deg is None:
            continue
        if not well_located(u, c):
            vague = u
            continue
        if not seen and vague is not None and c.split_vague_k:
            gate = c.split_deg + c.split_vague_k * (vague.azimuth_std or 0.0) + c.split_speed_dps * (mid(u) - mid(vague))
            if abs(wrap_deg(u.place - vague.place)) > gate:
                cuts[i] = True
        elif seen:
            last = seen[-1]
            t_last, t = mid(last), mid(u)
            # velocity over about a second: over 0.5 s the direction noise (3-5 deg a stretch) swamps it
            back = [x for x in seen if t_last - mid(x) >= 0.8 * c.split_span_s]
            pred, gate = last.place, c.split_deg
            if c.split_velocity and back:
                pred += wrap_deg(last.place - back[-1].place) / (t_last - mid(back[-1])) * (t - t_last)
            elif c.split_velocity:  # too little past for a velocity: allow a brisk walk from the last place
                gate += c.split_speed_dps * (t - t_last)
            if c.split_pause_s and gate > c.split_pause_deg and pause_between(last, u) >= c.split_pause_s:
                gate = min(gate, c.split_pause_deg)  # where talkers change: a smaller jump tells
            if abs(wrap_deg(u.place - pred)) > gate:
                cuts[i] = True
                seen.clear()
        seen.append(u)
    return cuts


def voice_cuts(units: list[Unit], labels: list[int], vectors: np.ndarray, c: AhcConfig) -> list[int]:
    """Where a run of one label must be cut because the voice changes within it.

    The location cut misses a new talker who starts where the last one stood, or who takes
    over while the last one walks off smoothly; at a meeting's start the online diariser may
    also not know the second voice yet. Each stretch's embedding covers the 1.5 s window
    ending with it, so the two stretches before position ``i`` hear only what came before it
    and the two starting at ``i + 2`` only what came after: where the cosine of those pairs'
    sums (in the compared space: centred, principal axes) falls below ``change_cos`` and is
    the lowest within two stretches, the run is cut at ``i``, if that leaves ``change_min_s``
    of the run on either side. Within runs on the simulated meetings 1-68, one talker on both
    sides gave cosines under -0.1 at 1% of positions; the talker changes the runs kept gave
    -0.26 to -0.38. Without the length rule, cuts near a walker's turn start left 1-2 s pieces
    that clustered on their own (sim7, sim32: DER +2 points); with it, only sim18 changed
    (a walker who starts beside the first talker and drifts off: DER 9.2% -> 2.7%, one return
    won), 37-68 unchanged, 432 of 440 returns kept.
    """
    n = len(units)
    if n < 6:
        return []
    normed = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    full = max(u.window_s for u in units)
    score = np.full(n, np.inf)
    for i in range(2, n - 3):
        span = range(i - 2, i + 4)
        if any(units[j].segment != units[i].segment or labels[j] != labels[i] for j in span) or units[i].segment is None:
            continue
        if opening(units[i + 2], full) or opening(units[i + 3], full):
            continue
        left, right = normed[i - 2] + normed[i - 1], normed[i + 2] + normed[i + 3]
        score[i] = float(left @ right) / max(float(np.linalg.norm(left) * np.linalg.norm(right)), 1e-12)
    cuts: list[int] = []
    start = 0  # where the current run (one label, one segment; or the last cut) began
    for i in range(n):
        if i and (units[i].segment != units[i - 1].segment or labels[i] != labels[i - 1]):
            start = i
        if score[i] < c.change_cos and score[i] <= score[max(i - 2, 0):i + 3].min():
            end = i
            while end + 1 < n and units[end + 1].segment == units[i].segment and labels[end + 1] == labels[i]:
                end += 1
            if units[i].t0 - units[start].t0 >= c.change_min_s and units[end].t1 - units[i].t0 >= c.change_min_s:
                cuts.append(i)
                start = i
    return cuts


def remembered_voice_cuts(units: list[Unit], labels: list[int], cuts: list[bool], c: AhcConfig) -> list[bool]:
    """Cut again where an earlier pass heard the voice change (``Unit.voice_cut``), while the run
    still leaves ``change_min_s`` on either side of the cut.

    ``voice_cuts`` compares embeddings in the space of the stretches being clustered (centred,
    over their principal axes), and that space moves as the horizon fills: in sim226 the
    meeting's first two turns (en-us+m3 walking, then the seated en-gb-x-rp+m1 talker 16 deg
    from where he stopped, 0.3 s later, in one speech segment and one online label) scored
    -0.41 and -0.39 in the passes at 10 and 15 s, and was cut, but -0.15 to -0.26 in every
    later pass, so the final labels gave both turns one talker (10.7% DER, a return lost). A
    change heard once stays heard: the cut is kept, and merging still joins the two sides when
    one talker spoke both. The length rule is checked again against the runs as they are now
    (the runs' labels and other cuts may have shortened them): kept without it, a remembered
    cut left a 1.5 s piece in sim904 that became a spurious talker. Measured in
    tools/diarization_notes.md ("eighteenth session").
    """
    out = list(cuts)
    for i in range(1, len(units)):
        u = units[i]
        if not u.voice_cut or out[i] or u.segment is None:
            continue
        lo = i
        while lo > 0 and units[lo - 1].segment == u.segment and labels[lo - 1] == labels[i] and not out[lo]:
            lo -= 1
        hi = i
        while hi + 1 < len(units) and units[hi + 1].segment == u.segment and labels[hi + 1] == labels[i] and not out[hi + 1]:
            hi += 1
        if lo < i and u.t0 - units[lo].t0 >= c.change_min_s and units[hi].t1 - u.t0 >= c.change_min_s:
            out[i] = True
    return out
