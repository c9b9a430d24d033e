"""How well one talker moving at random explains a sequence of directions, alone and merged with another.

Kalman-AHC (``kalman_ahc``) scores a candidate merge of two clusters by

    log p(A + B) - log p(A) - log p(B)

where p is the prediction-error likelihood of a scalar Kalman filter over the clusters'
directions in time order. Every merge re-scores the merged cluster against every other one,
so a pass over ten minutes runs the filter over hundreds of thousands of merged sequences;
run from scratch each time, that was 80% of the diariser's time (0.74 s a pass at the full
horizon, with the diariser's input waiting).

Most of a merged sequence is one cluster's own: before the other's first direction the
filter is exactly that cluster's, and a few directions after a hand-over its state is back on
the cluster's own (the difference in mean and variance shrinks by 1 - gain per direction, a
quarter or less for a sharp direction). A ``Track`` keeps the filter's state after each of its directions, so
``merged_loglik`` walks the merged order block by block (a block: directions of one cluster
between two of the other's), steps the filter only until its state equals the block owner's
own state at that point (to 1e-9 deg and 1e-9 relative variance: in floating point two
contracting filters may settle an ulp apart), and takes the rest of the block from the
owner's running log likelihood. Over the 11-minute simulated meeting (sim901) the diariser's
every emission stayed the same (checked on 12 meetings, array and mono), refinement took
7.7 s instead of 14.8 s in all and its slowest pass 0.39 s instead of 0.74 s.

The filter and the walk are compiled by numba (``_compiled.njit``): the same operations in
the same order, so the same numbers bit for bit (``tests/test_direction_track_compiled.py``
checks against the plain Python). Each track keeps its directions and states as the rows of
one array (``Track.data``), so a call hands compiled code few arguments: at about a million
calls a pass, the call costs as much as the walk. Over the hour-long simulated meeting sim951
the diariser's every label stayed the same, its CPU 510 s -> 263 s, a pass at the full 600 s
horizon 0.76 s -> 0.35 s on average and 1.28 s -> 0.58 s at most (with the cluster-side
vectors ``KalmanAhc._reassign`` now keeps; ``tools/diarization_notes.md``). A pair's whole
location ratio, the walking and the seated merge and the sums (``pair_llr``), is one compiled
call: two ``merged_loglik`` calls and the sums in Python cost more than the walks they made.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ._compiled import njit
from .units import LOG_UNIFORM_DEG

if TYPE_CHECKING:
    from .kalman_ahc import AhcConfig

Obs = tuple[float, float, float]  # (time s, azimuth deg, variance deg^2)

_TWO_PI = 2 * math.pi
_SAME_DEG = 1e-9  # a filter state this close to a track's own counts as that state (mean, deg; variance, relative)


@dataclass(frozen=True, slots=True)
class Motion:
    """The filter's constants, from the clustering configuration (see ``kalman_loglik`` for what they mean)."""

    q: float  # random-walk variance per second (deg^2/s)
    cap: float  # most a silent talker's predicted variance grows to (deg^2)
    away: float  # after a gap of away_gap or more, the talker may be anywhere with this probability
    away_gap: float
    restart_ll: float  # a direction after such a gap scored below this restarts the track there
    packed: np.ndarray = field(init=False, repr=False, compare=False, hash=False)  # the five above, for compiled code

    def __post_init__(self) -> None:
        object.__setattr__(self, "packed", np.array([self.q, self.cap, self.away, self.away_gap, self.restart_ll], dtype=np.float64))

    @classmethod
    def of(cls, config: AhcConfig) -> Motion:
        away = config.away
        restart = (math.log(away) + LOG_UNIFORM_DEG - math.log1p(-away)) if away else 0.0
        return cls(config.walk_std_dps**2, config.max_std_deg**2, away, config.away_gap_s, restart)

    @classmethod
    def seated(cls, config: AhcConfig) -> Motion | None:
        """The constants for a seated talker (``seated_std_dps``, ``seated_cap_deg``; never gone anywhere), or None when not considered."""
        if not config.seated_std_dps:
            return None
        return cls(config.seated_std_dps**2, config.seated_cap_deg**2, 0.0, math.inf, 0.0)


@njit(cache=True)
def _step(m: float, p: float, tp: float, t: float, z: float, r: float, mo: np.ndarray) -> tuple[float, float, float, float]:
    """One direction ``z`` (variance ``r``) at time ``t`` after state (mean, variance, time): the new state and its log likelihood.

    Scalar arithmetic on purpose: this is the inner loop of every refinement pass (the same
    operations as ``units.wrap_deg`` and ``units.log_mix`` without their array checks). ``mo``:
    the motion's constants as ``Motion.packed`` holds them (compiled code takes no dataclass).
    """
    q, cap, away, away_gap, restart_ll = mo[0], mo[1], mo[2], mo[3], mo[4]
    dt = t - tp
    pp = p + q * (dt if dt > 0.0 else 0.0)
    if pp > cap:
        pp = cap
    s = pp + r
    d = (z - m + 180.0) % 360.0 - 180.0
    ll = -0.5 * (d * d / s + math.log(_TWO_PI * s))
    if away != 0.0 and dt >= away_gap:
        top = ll if ll > LOG_UNIFORM_DEG else LOG_UNIFORM_DEG
        mixed = top + math.log((1 - away) * math.exp(ll - top) + away * math.exp(LOG_UNIFORM_DEG - top))
        if ll < restart_ll:  # gone anywhere: the track restarts there
            return z, r, t, mixed
        ll = mixed
    g = pp / s
    return (m + g * d + 180.0) % 360.0 - 180.0, (1 - g) * pp, t, ll


#: Rows of ``Track.data``: each direction's time, azimuth and variance, then the filter's mean,
#: variance and running log likelihood after it.
_T, _Z, _R, _M, _P, _CUM = range(6)


@njit(cache=True)
def _run_filter(d: np.ndarray, mo: np.ndarray) -> None:
    """Fill rows _M, _P, _CUM of a track's ``data`` from its directions (rows _T, _Z, _R)."""
    m, p, tp, total = d[_Z, 0], d[_R, 0], d[_T, 0], LOG_UNIFORM_DEG  # the first direction: anywhere on the circle
    d[_M, 0], d[_P, 0], d[_CUM, 0] = m, p, total
    for k in range(1, d.shape[1]):
        m, p, tp, ll = _step(m, p, tp, d[_T, k], d[_Z, k], d[_R, k], mo)
        total += ll
        d[_M, k], d[_P, k], d[_CUM, k] = m, p, total


@njit(cache=True)
def _merged(a: np.ndarray, abest: np.ndarray, b: np.ndarray, bbest: np.ndarray, mo: np.ndarray, floor: float) -> tuple[float, int]:
    """``merged_loglik`` on the tracks' ``data`` and ``best`` (see there); ``floor`` -inf: none."""
    na, nb = a.shape[1], b.shape[1]
    at, bt = a[_T], b[_T]
    bounded = floor > -math.inf
    ia = ib = 0
    m = p = tp = total = 0.0
    blocks = 0
    while ia < na or ib < nb:
        own_a = ib >= nb or (ia < na and at[ia] <= bt[ib])
        if own_a:  # a's block: up to b's next direction (a first at a tie)
            own, best, k = a, abest, ia
            end = ia + np.searchsorted(at[ia:], bt[ib], side="right") if ib < nb else na
        else:  # b's block: up to a's next direction
            own, best, k = b, bbest, ib
            end = ib + np.searchsorted(bt[ib:], at[ia], side="left") if ia < na else nb
        if not blocks:  # the first block is its owner's own filter
            m, p, tp, total = own[_M, end - 1], own[_P, end - 1], own[_T, end - 1], own[_CUM, end - 1]
        else:
            while k < end:
                # back on the owner's own filter (to _SAME_DEG): the rest of the block is theirs
                if k and tp == own[_T, k - 1] and abs(m - own[_M, k - 1]) <= _SAME_DEG \
                        and abs(p - own[_P, k - 1]) <= _SAME_DEG * own[_P, k - 1]:
                    total += own[_CUM, end - 1] - own[_CUM, k - 1]
                    m, p, tp = own[_M, end - 1], own[_P, end - 1], own[_T, end - 1]
                    break
                m, p, tp, ll = _step(m, p, tp, own[_T, k], own[_Z, k], own[_R, k], mo)
                total += ll
                k += 1
                if bounded:
                    bound = total + best[k] + (bbest[ib] if own_a else abest[ia])
                    if bound < floor:
                        return bound, blocks
        blocks += 1
        if own_a:
            ia = end
        else:
            ib = end
    return total, blocks - 1


@njit(cache=True)
def _suffix_best(r: np.ndarray) -> np.ndarray:
    """``Track.best`` from the directions' variances ``r``: suffix sums of each direction's most log density."""
    n = r.shape[0]
    best = np.zeros(n + 1)
    acc = 0.0
    for k in range(n - 1, -1, -1):
        acc += max(-0.5 * math.log(_TWO_PI * r[k]), LOG_UNIFORM_DEG)
        best[k] = acc
    return best


_NO_BEST = np.zeros(1)  # stands in for an unbounded track's ``best`` (never read without a floor)


class Track:
    """One cluster's directions in time order and the filter's state after each (mean, variance, running log likelihood).

    ``data`` holds them as rows (``_T`` .. ``_CUM``), one column per direction: one array for compiled code to take.
    """

    __slots__ = ("best", "data")

    def __init__(self, obs: Sequence[Obs], motion: Motion, bounded: bool = False) -> None:
        n = len(obs)
        self.data = np.empty((6, n))
        if n:  # (fromiter over the flattened tuples: several times faster than np.array on a list of tuples)
            self.data[:3] = np.fromiter(itertools.chain.from_iterable(obs), dtype=np.float64, count=3 * n).reshape(n, 3).T
        # best[k] (``bounded`` tracks only: what ``merged_loglik``'s floor needs, kept off the tracks
        # that never meet one): the most that directions k.. can add to any filter's total, in any
        # merge: a direction of variance r is predicted with variance s >= r, so its log density is
        # at most that of a zero error at s = r (or the uniform's, after a silence with "gone
        # anywhere"). Suffix sums, added up from the end as a filter's total is.
        self.best = _suffix_best(self.data[_R]) if bounded else _NO_BEST
        if n:
            _run_filter(self.data, motion.packed)

    def __len__(self) -> int:
        return int(self.data.shape[1])

    @property
    def bounded(self) -> bool:
        return self.best is not _NO_BEST

    @property
    def loglik(self) -> float:
        return float(self.data[_CUM, -1]) if self.data.shape[1] else 0.0


def merged_loglik(a: Track, b: Track, motion: Motion, floor: float = -math.inf) -> tuple[float, int]:
    """Log likelihood of the two tracks' directions merged in time order (``a``'s first at equal times), and the
    number of hand-overs between them in that order. Both must hold directions.

    The walk goes block by block (see the module docstring), in compiled code (``_merged``).
    With a ``floor``, it stops as soon as the total so far plus the most the directions left
    could add (``Track.best``) is below it, and returns that bound (below ``floor``; the hand-overs
    are those so far): a caller that only wants to know whether the merged score reaches ``floor``
    learns it at the first hand-over or two between talkers apart, instead of after a slow walk
    through every block (a seated talker's filter, with little process noise, takes hundreds of
    directions to settle back on a track's own state). A floor needs both tracks built ``bounded``.
    """
    if floor > -math.inf and not (a.bounded and b.bounded):
        raise ValueError("merged_loglik with a floor needs tracks built with bounded=True")
    total, blocks = _merged(a.data, a.best, b.data, b.best, motion.packed, floor)
    return float(total), int(blocks)


@njit(cache=True)
def _pair_llr(a: np.ndarray, b: np.ndarray, sa: np.ndarray, sab: np.ndarray, sb: np.ndarray, sbb: np.ndarray,
              none: np.ndarray, mo: np.ndarray, ms: np.ndarray, seated: bool, prior: float) -> float:
    """``pair_llr`` on the tracks' arrays (``none``: the stand-in for an unbounded track's ``best``)."""
    merged, handovers = _merged(a, none, b, none, mo, -math.inf)
    own_a = a[_CUM, a.shape[1] - 1]
    own_b = b[_CUM, b.shape[1] - 1]
    if seated:  # each "if" is Python's max(x, y) exactly: y only where greater
        sitting = _merged(sa, sab, sb, sbb, ms, merged - prior)[0] + prior
        if sitting > merged:  # noqa: PLR1730
            merged = sitting
        if sa[_CUM, sa.shape[1] - 1] + prior > own_a:  # noqa: PLR1730
            own_a = sa[_CUM, sa.shape[1] - 1] + prior
        if sb[_CUM, sb.shape[1] - 1] + prior > own_b:  # noqa: PLR1730
            own_b = sb[_CUM, sb.shape[1] - 1] + prior
    return (merged - own_a - own_b) / max(handovers, 1)


def pair_llr(a: Track, b: Track, motion: Motion, seat_a: Track | None = None, seat_b: Track | None = None,
             seated: Motion | None = None, prior: float = 0.0) -> float:
    """Log likelihood ratio per hand-over of two tracks' directions as one talker against two: the location part
    of Kalman-AHC's affinity before its weight and clip. Both tracks must hold directions.

    Each side, and the merged one, is whichever talker explains it better: walking (``a``, ``b``
    under ``motion``) or, given ``seat_a`` and ``seat_b`` (bounded tracks of the same directions
    under ``seated``), seated less the ``prior``; the seated merge is walked only as far as it can
    still beat the walking one (``merged_loglik``'s floor). One compiled call per pair: the
    same arithmetic as two ``merged_loglik`` calls and the sums in Python, without the calls'
    cost, which at a million pairs a pass was a good part of refinement's time.
    """
    if seat_a is None or seat_b is None or seated is None:
        return float(_pair_llr(a.data, b.data, a.data, _NO_BEST, b.data, _NO_BEST, _NO_BEST, motion.packed, motion.packed, False, 0.0))
    if not (seat_a.bounded and seat_b.bounded):
        raise ValueError("pair_llr's seated tracks must be built with bounded=True")
    return float(_pair_llr(a.data, b.data, seat_a.data, seat_a.best, seat_b.data, seat_b.best, _NO_BEST, motion.packed, seated.packed,
                           True, prior))


def warm_up() -> None:
    """Compile the filters now (numba compiles at first call: about 2 s on a fresh machine, 0.2 s from its cache).

    The diariser calls this when it opens, before any audio flows; otherwise the first
    refinement pass of a live meeting would stall the labels by that much, a few seconds in.
    """
    walk = Motion(1.0, 100.0, 0.1, 8.0, -10.0)
    a = Track([(0.0, 10.0, 25.0), (0.5, 12.0, 25.0)], walk, bounded=True)
    b = Track([(0.25, -40.0, 25.0)], walk, bounded=True)
    merged_loglik(a, b, walk)
    merged_loglik(a, b, walk, floor=0.0)
    pair_llr(a, b, walk, a, b, walk, -20.0)
    pair_llr(a, b, walk)


def kalman_loglik(obs: list[Obs], config: AhcConfig) -> float:
    """Log likelihood of a direction sequence under one talker walking at random (scalar Kalman filter).

    After a silence of ``away_gap_s`` or more the talker may also have gone anywhere (share
    ``away``, uniform over the circle; the track then restarts where they are heard). A random
    walk says a walker back after 12 s is within 70 deg of where they were, but people cross
    the room with purpose: a walker passing the array sweeps 100-150 deg in that time, and the
    random walk's penalty for it could keep their turns before and after apart, or let their
    earlier turn join a talker it ended beside (sim55). With 10% after 8 s: meetings 1-36 and
    69-100 unchanged (DER, returns; 5-10 s and 10-20% alike on 1-36), 37-68 DER 5.35% -> 5.03%
    and 204 -> 205 of 208 returns kept (sim55, which suggested it). A seated talker back at
    their place loses almost nothing (the uniform share is 10%).
    """
    return Track(obs, Motion.of(config)).loglik
