"""Scoring diarisation (pyannote.metrics) and speaker-attributed transcripts (MeetEval).

Used by ``meetflow eval diarization`` / ``meetflow eval transcript`` and the benchmark.
Readers raise ``EvalInputError`` with the file and what is wrong, never a traceback.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class EvalInputError(Exception):
    pass


def read_rttm(path: str | Path) -> dict[str, list[tuple[float, float, str]]]:
    """RTTM SPEAKER lines grouped by file id: (start, end, speaker)."""
    p = Path(path)
    text = _read_text(p)
    out: dict[str, list[tuple[float, float, str]]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        f = line.split()
        if not f or f[0].startswith("#") or f[0] != "SPEAKER":
            if f and f[0] not in ("SPKR-INFO", "SPEAKER") and not f[0].startswith(";"):
                raise EvalInputError(f"{p}:{n}: not an RTTM line: {line.strip()[:60]!r}")
            continue
        if len(f) < 8:
            raise EvalInputError(f"{p}:{n}: an RTTM SPEAKER line needs at least 8 fields, found {len(f)}")
        start, dur = _seconds(f[3], f"{p}:{n}: start"), _seconds(f[4], f"{p}:{n}: duration")
        out.setdefault(f[1], []).append((start, start + dur, f[7]))
    return out


def _seconds(value: Any, what: str) -> float:
    """A time in seconds: a finite number not below zero (NaN or inf would pass a plain float()
    and then either vanish from the scores or crash the metric's optimal mapping)."""
    try:
        x = float(value) if not isinstance(value, bool) else float("nan")
    except (TypeError, ValueError):
        x = float("nan")
    if not math.isfinite(x) or x < 0:
        raise EvalInputError(f"{what} must be a number of seconds, not below zero: {value!r}")
    return x


def _read_text(p: Path) -> str:
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EvalInputError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalInputError(f"{p}: cannot read: {exc}") from None


def read_uem(path: str | Path) -> dict[str, list[tuple[float, float]]]:
    """NIST UEM regions by file id: lines 'file channel start end' (';;' comments)."""
    p = Path(path)
    out: dict[str, list[tuple[float, float]]] = {}
    for n, line in enumerate(_read_text(p).splitlines(), 1):
        f = line.split()
        if not f or f[0].startswith(";"):
            continue
        if len(f) < 4:
            raise EvalInputError(f"{p}:{n}: a UEM line is 'file channel start end': {line.strip()[:60]!r}")
        a, b = _seconds(f[2], f"{p}:{n}: start"), _seconds(f[3], f"{p}:{n}: end")
        if b <= a:
            raise EvalInputError(f"{p}:{n}: the region must end after it starts: {a} to {b}")
        out.setdefault(f[0], []).append((a, b))
    return out


@dataclass
class DerResult:
    der: float
    false_alarm: float
    missed: float
    confusion: float
    total: float
    per_file: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return {"der": self.der, "false_alarm": self.false_alarm, "missed": self.missed, "confusion": self.confusion,
                "total_speech_s": self.total, "per_file": self.per_file}


def der(ref: dict[str, list[tuple[float, float, str]]], hyp: dict[str, list[tuple[float, float, str]]], collar: float = 0.0,
        skip_overlap: bool = False, uem: dict[str, list[tuple[float, float]]] | None = None, match_single_file: bool = True) -> DerResult:
    """Diarisation error rate (pyannote.metrics) over every file of the reference.

    ``collar`` is the total width removed around each reference boundary (pyannote's
    convention: 0.5 = +-0.25 s). When both sides hold a single file with different ids (a
    hypothesis named after the recording, a reference after the meeting) they are paired.
    """
    import warnings

    from pyannote.core import Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    if match_single_file and len(ref) == 1 and len(hyp) == 1 and set(ref) != set(hyp):
        hyp = {next(iter(ref)): next(iter(hyp.values()))}
    metric = DiarizationErrorRate(collar=collar, skip_overlap=skip_overlap)
    per: dict[str, float] = {}
    for fid, turns in ref.items():
        r, h = _annotation(fid, turns), _annotation(fid, hyp.get(fid, []))
        kw = {}
        if uem and fid in uem:
            kw["uem"] = Timeline([Segment(a, b) for a, b in uem[fid]], uri=fid)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 'uem was approximated by the union of extents': that is the intent here
            per[fid] = float(metric(r, h, **kw))
    acc = metric.accumulated_
    t = float(acc.get("total", 0.0)) or 1e-9
    return DerResult(float(abs(metric)), float(acc.get("false alarm", 0.0)) / t, float(acc.get("missed detection", 0.0)) / t,
                     float(acc.get("confusion", 0.0)) / t, t, per)


def _annotation(uri: str, turns: list[tuple[float, float, str]]) -> Any:
    """Turns as a pyannote Annotation (one track per turn, so overlapping turns of one label stay apart)."""
    from pyannote.core import Annotation, Segment

    out = Annotation(uri=uri)
    for k, (a, b, s) in enumerate(turns):
        out[Segment(a, b), k] = s
    return out


def speaker_mapping(ref: list[tuple[float, float, str]], hyp: list[tuple[float, float, str]]) -> dict[str, str]:
    """Each reference speaker's hypothesis label under the one-to-one mapping DER scores with (pyannote's optimal mapping)."""
    from pyannote.metrics.diarization import DiarizationErrorRate

    if not ref or not hyp:
        return {}
    mapping = DiarizationErrorRate().optimal_mapping(_annotation("m", ref), _annotation("m", hyp))
    return {r: h for h, r in mapping.items()}


def read_seglst(path: str | Path) -> list[dict[str, Any]]:
    """SegLST segments (speaker, start_time, end_time, words; session_id optional), checked."""
    p = Path(path)
    text = _read_text(p)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EvalInputError(f"{p}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, list):
        raise EvalInputError(f"{p}: a SegLST file holds a JSON list of segments")
    for i, s in enumerate(data):
        if not isinstance(s, dict):
            raise EvalInputError(f"{p}: segment {i} is not an object")
        for k in ("speaker", "start_time", "end_time", "words"):
            if k not in s:
                raise EvalInputError(f"{p}: segment {i} lacks '{k}'")
        a, b = _seconds(s["start_time"], f"{p}: segment {i}: start_time"), _seconds(s["end_time"], f"{p}: segment {i}: end_time")
        if b < a:
            raise EvalInputError(f"{p}: segment {i} ends ({b}) before it starts ({a})")
        if not isinstance(s["words"], str):
            raise EvalInputError(f"{p}: segment {i}: words must be a string, not {json.dumps(s['words'])}")
    return data


def transcript_wer(ref: list[dict[str, Any]], hyp: list[dict[str, Any]], collar: float = 5.0, normalize: bool = True) -> dict[str, Any]:
    """cpWER and tcpWER (MeetEval) of a speaker-attributed transcript; sessions paired when each side has one."""
    import meeteval

    from nodes.transcript.textnorm import normalize as norm_text

    def prep(rows: list[dict[str, Any]], session: str | None) -> list[dict[str, Any]]:
        out = []
        for s in rows:
            words = str(s["words"])
            if normalize:
                words = norm_text(words)
            out.append({"session_id": session or str(s.get("session_id", "meeting")), "speaker": str(s["speaker"]),
                        "start_time": float(s["start_time"]), "end_time": float(s["end_time"]), "words": words})
        return out

    rs = {str(s.get("session_id", "meeting")) for s in ref}
    hs = {str(s.get("session_id", "meeting")) for s in hyp}
    session = next(iter(rs)) if len(rs) == 1 and len(hs) <= 1 else None
    r, h = prep(ref, session), prep(hyp, session)
    # MeetEval refuses sessions on one side only. A session the hypothesis lacks (nothing
    # recognised, or a transcript of another meeting) is scored here as every reference word
    # deleted; sessions only the hypothesis has are left out. Both are listed for the caller.
    scored = {s["session_id"] for s in h} & {s["session_id"] for s in r}
    absent = sorted({s["session_id"] for s in r} - scored)
    out: dict[str, Any] = {"sessions_without_hypothesis": absent, "sessions_not_in_reference": sorted({s["session_id"] for s in h} - scored)}
    r_in, h_in = [s for s in r if s["session_id"] in scored], [s for s in h if s["session_id"] in scored]
    deleted = {k: 0 for k in absent}  # reference words of each session the hypothesis lacks
    for s in r:
        if s["session_id"] in deleted:
            deleted[s["session_id"]] += len(s["words"].split())
    for name, fn, kw in (("cpwer", meeteval.wer.cpwer, {}), ("tcpwer", meeteval.wer.tcpwer, {"collar": collar})):
        res = fn(meeteval.io.SegLST(r_in), meeteval.io.SegLST(h_in), **kw) if r_in else {}
        sessions = {k: {"error_rate": float(v.error_rate), "errors": v.errors, "length": v.length} for k, v in res.items()}
        sessions.update({k: {"error_rate": 1.0 if n else 0.0, "errors": n, "length": n} for k, n in deleted.items()})
        errs = sum(v["errors"] for v in sessions.values())
        length = sum(v["length"] for v in sessions.values())
        out[name] = {"error_rate": errs / max(length, 1), "errors": errs, "length": length, "sessions": sessions}
        if name == "cpwer":
            out[name]["missed_speakers"] = sum(getattr(v, "missed_speaker", 0) for v in res.values()) + len(
                {(s["session_id"], s["speaker"]) for s in r if s["session_id"] in absent})
            out[name]["falarm_speakers"] = sum(getattr(v, "falarm_speaker", 0) for v in res.values())
    return out
