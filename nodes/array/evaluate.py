"""Scoring talker directions: tracks (and raw directions) against ground-truth azimuths.

Inputs are the files the tools write: ``truth_azimuth.jsonl`` (``meetflow simulate``: lines
``{t, speaker, azimuth_deg}`` while a talker is audible), ``tracks.jsonl`` (``array.tracks_writer``:
``{t, track_id, azimuth_deg}``) and optionally ``doa.jsonl`` (``array.doa_writer``).

At every truth time, the talkers audible then are matched to the tracks reported at the
nearest update (within ``tolerance_s``) by an optimal assignment on angular distance; a pair
further apart than ``gate_deg`` does not count as a match. Errors are measured against where
the talker was at the update's own time (truth interpolated), so a walker's motion between
samples does not count as error. Per talker that gives:

* the median and mean azimuth error over matched times;
* the fraction of the talker's active time that a track covered (``tracked``);
* track breaks: how often the track id covering the talker changed, each with the time since
  the talker was last covered (a break after a long silence is the failure that matters for
  diarisation: a returning talker got a new id);
* returns: every time a talker is covered again after at least ``min_gap_s`` uncovered, with
  the length of the silence, whether the id was the same, and how far the talker moved
  meanwhile (a walker who crossed the room while silent cannot be recognised by direction).

Raw directions are scored the same way, using at each block as many peaks (strongest first)
as talkers are active, so the comparison with tracking is like for like.

A linear array cannot report azimuths: it measures the *cone angle* between a talker and its
axis, and reports it in the half plane ``[axis, axis + 180]`` (``ArrayGeometry.azimuth_range``).
A talker behind the line is heard like its mirror image in front, and a talker above or below
the array's height is heard further from the axis than their azimuth says (a talker at
azimuth 16 deg, 0.5 m above an array 1.9 m away, sits at a cone angle of 21.6 deg).
``as_measured`` therefore turns the truth into what such an array can measure: the exact cone
angle when the talkers' positions are known (the simulator's ``scenario.json``), else the
azimuth mirrored into the half plane (exact for talkers at the array's height); estimates
are folded the same way, so a tracker's step past the end of the range is not an error.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from .geometry import ArrayGeometry, angle_diff, round_az, wrap_deg


class EvalInputError(ValueError):
    """A file to score is missing or malformed (the CLI turns it into an input error)."""


#: The keys each file must hold, and what their values must be: "number", "integer", "numbers"
#: (a list of numbers: doa.jsonl's peaks, strongest first) or "any" (speaker names are only compared).
TRUTH_KEYS = {"t": "number", "speaker": "any", "azimuth_deg": "number"}
TRACK_KEYS = {"t": "number", "track_id": "integer", "azimuth_deg": "number"}
DOA_KEYS = {"t": "number", "azimuth_deg": "numbers"}


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_KIND_OK = {"number": _is_number, "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "numbers": lambda v: isinstance(v, list) and all(_is_number(x) for x in v), "any": lambda v: True}
_KIND_SAY = {"number": "a number", "integer": "a whole number", "numbers": "a list of numbers"}


def read_jsonl(path: str | Path, required: Iterable[str] | Mapping[str, str]) -> list[dict[str, Any]]:
    """Rows of a JSON-lines file, each holding the ``required`` keys; given a mapping (key -> kind,
    e.g. ``TRACK_KEYS``) the values are checked too, so a hand-edited or foreign file is named at
    its line instead of failing inside the scoring."""
    p = Path(path)
    if not p.exists():
        raise EvalInputError(f"{p}: no such file")
    rows: list[dict[str, Any]] = []
    need = list(required)
    kinds = dict(required) if isinstance(required, Mapping) else {}
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalInputError(f"{p}: cannot read ({exc})") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            if n == len(lines) and rows:  # a run cut off mid-line (a file with nothing readable is no such file)
                continue
            raise EvalInputError(f"{p}:{n}: not a JSON line") from None
        if not isinstance(row, dict):
            raise EvalInputError(f"{p}:{n}: not a JSON object (expected keys: {', '.join(need)})")
        missing = [k for k in need if k not in row]
        if missing:
            raise EvalInputError(f"{p}:{n}: missing {', '.join(missing)} (expected keys: {', '.join(need)})")
        for k, kind in kinds.items():
            if not _KIND_OK[kind](row[k]):
                raise EvalInputError(f"{p}:{n}: {k} is {json.dumps(row[k])}, not {_KIND_SAY[kind]}")
        rows.append(row)
    return rows


def fold(az: float, axis_deg: float) -> float:
    """An azimuth mirrored into a linear array's half plane ``[axis, axis + 180]`` (wrapped to (-180, 180])."""
    return float(wrap_deg(axis_deg + abs(float(wrap_deg(float(az) - axis_deg)))))


def linear_axis(geometry: ArrayGeometry) -> float | None:
    """The azimuth of a linear array's axis (where its half plane starts); None for other arrays."""
    return geometry.azimuth_range()[0] if geometry.is_linear else None


def cone_angle(position: Any, centre: Any, axis_deg: float) -> float:
    """The direction a linear array along ``axis_deg`` (horizontal) hears a talker at ``position`` in:
    axis + the angle between the axis and the talker (0-180), whatever the talker's height."""
    v = np.asarray(position, dtype=np.float64) - np.asarray(centre, dtype=np.float64)
    d = np.array([np.cos(np.deg2rad(axis_deg)), np.sin(np.deg2rad(axis_deg)), 0.0])
    c = float(np.dot(v, d) / max(float(np.linalg.norm(v)), 1e-12))
    return float(wrap_deg(axis_deg + np.degrees(np.arccos(np.clip(c, -1.0, 1.0)))))


@dataclass
class Measured:
    """The truth as the array can measure it, and how it was obtained (for the report)."""

    truth: list[dict[str, Any]]
    how: str  # "azimuth" (not linear), "cone" (cone angles from the talkers' positions) or "folded"
    axis_deg: float | None = None
    note: str = ""


def as_measured(truth: list[dict[str, Any]], geometry: ArrayGeometry | None, scenario: Any = None) -> Measured:
    """Truth rows in the array's own terms; see the module docstring.

    ``scenario``: a ``nodes.sim.scenario.Scenario`` (talker positions over time, array centre)
    for exact cone angles; without it (or when it does not match the truth) azimuths are folded.
    """
    axis = linear_axis(geometry) if geometry is not None else None
    if axis is None:
        return Measured(truth, "azimuth")
    lo = round_az(axis)
    span = f"[{lo:g}, {lo + 180:g}]" if lo + 180 <= 180 else f"[{lo:g}, 180] and (-180, {lo - 180:g}]"
    if scenario is not None:
        ids = {t.id for t in scenario.talkers}
        centre = np.asarray(scenario.array.centre, dtype=np.float64) + np.mean(np.asarray(scenario.array.mics, dtype=np.float64), axis=0)
        origin = np.asarray(scenario.array.centre, dtype=np.float64)
        out, ok = [], True
        for r in truth:
            sp = str(r["speaker"])
            if sp not in ids:
                ok = False
                break
            p = scenario.talker(sp).position_at(float(r["t"]))
            az = np.degrees(np.arctan2(p[1] - origin[1], p[0] - origin[0]))
            if abs(float(angle_diff(az, float(r["azimuth_deg"])))) > 1.0:  # another meeting's scenario
                ok = False
                break
            out.append({**r, "azimuth_deg": round_az(cone_angle(p, centre, axis))})
        if ok:
            return Measured(out, "cone", axis, f"linear array: truth as the cone angle to its axis, in {span} "
                            "(talker heights from the scenario)")
        note = f"linear array: the scenario does not match the truth, so truth azimuths are mirrored into {span} (talker heights ignored)"
    else:
        note = f"linear array: truth azimuths mirrored into {span} (talker heights unknown: give the scenario for exact cone angles)"
    return Measured([{**r, "azimuth_deg": round_az(fold(float(r["azimuth_deg"]), axis))} for r in truth], "folded", axis, note)


def fold_estimates(rows: list[dict[str, Any]], axis_deg: float | None) -> list[dict[str, Any]]:
    """Track or doa rows with their azimuths folded into a linear array's half plane (unchanged for other arrays)."""
    if axis_deg is None:
        return rows
    out = []
    for r in rows:
        a = r["azimuth_deg"]
        out.append({**r, "azimuth_deg": [fold(v, axis_deg) for v in a] if isinstance(a, list) else fold(a, axis_deg)})
    return out


def _by_time(rows: list[dict[str, Any]]) -> tuple[np.ndarray, list[list[dict[str, Any]]]]:
    groups: dict[float, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(float(r["t"]), []).append(r)
    times = sorted(groups)
    return np.asarray(times), [groups[t] for t in times]


def _nearest(times: np.ndarray, t: float, tol: float) -> int | None:
    if len(times) == 0:
        return None
    i = bisect_left(times, t)
    best = None
    for j in (i - 1, i):
        if 0 <= j < len(times) and abs(times[j] - t) <= tol and (best is None or abs(times[j] - t) < abs(times[best] - t)):
            best = j
    return best


def _assign(truth_az: list[float], cand_az: list[float], gate: float) -> list[int | None]:
    """For each truth azimuth, the index of its matched candidate (None when unmatched)."""
    if not truth_az or not cand_az:
        return [None] * len(truth_az)
    from scipy.optimize import linear_sum_assignment

    cost = np.abs(angle_diff(np.asarray(truth_az)[:, None], np.asarray(cand_az)[None, :]))
    rows, cols = linear_sum_assignment(cost)
    out: list[int | None] = [None] * len(truth_az)
    for r, c in zip(rows, cols):
        if cost[r, c] <= gate:
            out[r] = int(c)
    return out


@dataclass
class Break:
    t: float
    from_id: int
    to_id: int
    gap_s: float  # time since the talker was last covered by a track


@dataclass
class Return:
    """A talker covered again after a silence (or an uncovered stretch) of ``gap_s``."""

    t: float
    gap_s: float
    same_id: bool
    moved_deg: float  # how far the talker's true azimuth moved during the silence


@dataclass
class TalkerScore:
    speaker: str
    active_s: float
    tracked: float
    median_err: float | None
    mean_err: float | None
    breaks: int
    track_ids: list[int]
    longest_gap_bridged_s: float  # longest silence after which the talker got the same id back
    raw_median_err: float | None = None
    raw_mean_err: float | None = None
    raw_covered: float | None = None
    break_list: list[Break] = field(default_factory=list)
    returns: list[Return] = field(default_factory=list)


@dataclass
class DoaScore:
    talkers: list[TalkerScore]
    median_err: float | None
    mean_err: float | None
    tracked: float
    breaks: int
    raw_median_err: float | None = None
    raw_mean_err: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _stats(errs: list[float]) -> tuple[float | None, float | None]:
    if not errs:
        return None, None
    a = np.asarray(errs)
    return round(float(np.median(a)), 2), round(float(np.mean(a)), 2)


def score(truth: list[dict[str, Any]], tracks: list[dict[str, Any]], doa: list[dict[str, Any]] | None = None,
          tolerance_s: float = 0.2, gate_deg: float = 30.0, min_activity: float = 0.0, step_s: float | None = None,
          min_gap_s: float = 1.0) -> DoaScore:
    """Score tracks (and raw directions) against truth; see the module docstring."""
    t_times, t_groups = _by_time(truth)
    k_times, k_groups = _by_time([r for r in tracks if r.get("active", True)])
    d_rows = [r for r in (doa or []) if float(r.get("activity", 1.0)) >= min_activity]
    d_times, d_groups = _by_time(d_rows)
    if step_s is None:
        step_s = float(np.median(np.diff(t_times))) if len(t_times) > 1 else 0.1
    speakers = sorted({str(r["speaker"]) for r in truth})
    errs: dict[str, list[float]] = {s: [] for s in speakers}
    raw: dict[str, list[float]] = {s: [] for s in speakers}
    raw_n: dict[str, int] = {s: 0 for s in speakers}
    n_active: dict[str, int] = {s: 0 for s in speakers}
    n_tracked: dict[str, int] = {s: 0 for s in speakers}
    seq: dict[str, list[tuple[float, int, float]]] = {s: [] for s in speakers}
    # Each talker's true azimuth as a continuous function of time, so an estimate is compared with
    # where the talker was at the estimate's own time (a walker moves between truth samples).
    paths: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for sp in speakers:
        rows = sorted((float(r["t"]), float(r["azimuth_deg"])) for r in truth if str(r["speaker"]) == sp)
        ts = np.array([r[0] for r in rows])
        paths[sp] = (ts, np.rad2deg(np.unwrap(np.deg2rad([r[1] for r in rows]))))

    def truth_at(sp: str, t: float) -> float:
        ts, az = paths[sp]
        return float(np.interp(t, ts, az))

    for t, group in zip(t_times, t_groups):
        spk = [str(r["speaker"]) for r in group]
        for s in spk:
            n_active[s] += 1
        j = _nearest(k_times, float(t), tolerance_s)
        if j is not None:
            cands = k_groups[j]
            az = [truth_at(s, float(k_times[j])) for s in spk]
            match = _assign(az, [float(c["azimuth_deg"]) for c in cands], gate_deg)
            for s, a, m in zip(spk, az, match):
                if m is None:
                    continue
                c = cands[m]
                errs[s].append(abs(float(angle_diff(float(c["azimuth_deg"]), a))))
                n_tracked[s] += 1
                seq[s].append((float(t), int(c["track_id"]), a))
        if d_rows:
            j = _nearest(d_times, float(t), tolerance_s)
            if j is not None:
                az = [truth_at(s, float(d_times[j])) for s in spk]
                peaks = [float(p) for row in d_groups[j] for p in row["azimuth_deg"][: len(az)]]
                match = _assign(az, peaks, gate_deg)
                for s, a, m in zip(spk, az, match):
                    if m is not None:
                        raw[s].append(abs(float(angle_diff(peaks[m], a))))
                        raw_n[s] += 1
    talkers = []
    all_err: list[float] = []
    all_raw: list[float] = []
    total_breaks = 0
    for s in speakers:
        breaks: list[Break] = []
        returns: list[Return] = []
        bridged = 0.0
        for (ta, ia, aa), (tb, ib, ab) in zip(seq[s], seq[s][1:]):
            gap = tb - ta
            if ib != ia:
                breaks.append(Break(round(tb, 3), ia, ib, round(gap, 3)))
            elif gap > bridged:
                bridged = gap
            if gap >= min_gap_s:
                returns.append(Return(round(tb, 3), round(gap, 3), ib == ia, round(abs(float(angle_diff(ab, aa))), 1)))
        ids = sorted({i for _, i, _ in seq[s]})
        med, mean = _stats(errs[s])
        rmed, rmean = _stats(raw[s])
        talkers.append(TalkerScore(
            s, round(n_active[s] * step_s, 2), round(n_tracked[s] / n_active[s], 4) if n_active[s] else 0.0, med, mean, len(breaks), ids,
            round(bridged, 2), rmed if d_rows else None, rmean if d_rows else None,
            round(raw_n[s] / n_active[s], 4) if d_rows and n_active[s] else None, breaks, returns))
        all_err += errs[s]
        all_raw += raw[s]
        total_breaks += len(breaks)
    med, mean = _stats(all_err)
    rmed, rmean = _stats(all_raw)
    act = sum(n_active.values())
    return DoaScore(talkers, med, mean, round(sum(n_tracked.values()) / act, 4) if act else 0.0, total_breaks,
                    rmed if d_rows else None, rmean if d_rows else None,
                    {"tolerance_s": tolerance_s, "gate_deg": gate_deg, "min_activity": min_activity, "min_gap_s": min_gap_s})


def format_table(sc: DoaScore) -> str:
    """A plain-text table of a score, one row per talker plus the total."""
    raw = sc.raw_median_err is not None

    def f(v: float | None, unit: str = "") -> str:
        return "-" if v is None else f"{v:.1f}{unit}"

    head = ["talker", "active", "tracked", "median err", "mean err", "breaks", "tracks"] + (["raw median", "raw mean"] if raw else [])
    rows = []
    for t in sc.talkers:
        row = [t.speaker, f"{t.active_s:.1f}s", f"{100 * t.tracked:.1f}%", f(t.median_err, "°"), f(t.mean_err, "°"), str(t.breaks),
               ",".join(map(str, t.track_ids)) or "-"]
        if raw:
            row += [f(t.raw_median_err, "°"), f(t.raw_mean_err, "°")]
        rows.append(row)
    total = ["all", f"{sum(t.active_s for t in sc.talkers):.1f}s", f"{100 * sc.tracked:.1f}%", f(sc.median_err, "°"), f(sc.mean_err, "°"),
             str(sc.breaks), ""]
    if raw:
        total += [f(sc.raw_median_err, "°"), f(sc.raw_mean_err, "°")]
    rows.append(total)
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in [head] + rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    rets = [r for t in sc.talkers for r in t.returns]
    if rets:
        first = sc.settings.get("min_gap_s", 1.0)
        for lo, hi in ((first, 10.0), (10.0, float("inf"))):
            grp = [r for r in rets if lo <= r.gap_s <= hi] if hi < float("inf") else [r for r in rets if r.gap_s > lo]
            still = [r for r in grp if r.moved_deg <= 20.0]
            span = f"silences of {lo:g}-{hi:g} s" if hi < float("inf") else f"silences over {lo:g} s"
            lines.append(f"returns after {span}: {len(grp)}, same track {sum(r.same_id for r in grp)}; "
                         f"of those who moved <= 20 deg meanwhile: {len(still)}, same track {sum(r.same_id for r in still)}")
    for t in sc.talkers:
        for b in t.break_list:
            lines.append(f"break: {t.speaker} at {b.t:.2f} s, track {b.from_id} -> {b.to_id} (last covered {b.gap_s:.1f} s before)")
    return "\n".join(lines)


def plot(truth: list[dict[str, Any]], tracks: list[dict[str, Any]], path: str | Path, doa: list[dict[str, Any]] | None = None,
         title: str | None = None) -> Path:
    """Azimuth over time: truth per talker (lines) against tracks (dots) and raw directions (grey)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 5), dpi=110)
    if doa:
        ts = [float(r["t"]) for r in doa for _ in r["azimuth_deg"][:1]]
        az = [float(r["azimuth_deg"][0]) for r in doa if r["azimuth_deg"]]
        ax.scatter(ts, az, s=4, c="0.75", label="raw DOA (top peak)", zorder=1)
    speakers = sorted({str(r["speaker"]) for r in truth})
    for i, s in enumerate(speakers):
        pts = [(float(r["t"]), float(r["azimuth_deg"])) for r in truth if str(r["speaker"]) == s]
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=14, marker="s", color=f"C{i % 10}", alpha=0.25, label=f"truth {s}", zorder=2)
    ids = sorted({int(r["track_id"]) for r in tracks})
    markers = "o^vD<>px*h"
    for k, tid in enumerate(ids):
        pts = [(float(r["t"]), float(r["azimuth_deg"])) for r in tracks if int(r["track_id"]) == tid and r.get("active", True)]
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=6, marker=markers[k % len(markers)], color="k" if k < 1 else f"C{(k + len(speakers)) % 10}",
                   label=f"track {tid}", zorder=3)
    ax.set_ylim(-180, 180)
    ax.set_yticks(range(-180, 181, 45))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("azimuth (deg, CCW from +x)")
    ax.grid(alpha=0.3)
    ax.set_title(title or "talker azimuth: truth vs tracks")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, markerscale=2)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
