"""Render final transcript segments in the formats meeting tools exchange.

* SegLST JSON: MeetEval's segment list (``session_id``, ``speaker``, ``start_time``,
  ``end_time``, ``words``), the input of ``meeteval-wer cpwer/tcpwer``, plus each segment's
  word times as ``word_times``: ``[[word, t0, t1], ...]``, the key ``meetflow simulate``'s
  reference uses (an extra key, which SegLST readers carry along or ignore);
* WebVTT and SRT: subtitles (speaker as a WebVTT voice, or a prefix in SRT);
* RTTM: NIST speaker turns, the input of diarisation scoring;
* STM and CTM: NIST segment and word lists (sclite).

Each renderer takes the final segments in start-time order and returns the whole file,
so a file can be rewritten atomically after every change (relabels included).
"""

from __future__ import annotations

import json
import re
from typing import Callable, Sequence

from pipeline.payloads import TranscriptUpdate

UNKNOWN_SPEAKER = "unknown"


def speaker_token(speaker: str | None) -> str:
    """A speaker label safe for whitespace-separated formats (RTTM, STM)."""
    if not speaker:
        return UNKNOWN_SPEAKER
    return re.sub(r"\s+", "_", speaker.strip()) or UNKNOWN_SPEAKER


def _clock(t: float, sep: str) -> str:
    ms = max(int(round(t * 1000)), 0)
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def seglst(segments: Sequence[TranscriptUpdate], session: str) -> str:
    rows = []
    for u in segments:
        row = {
            "session_id": session,
            "speaker": u.speaker or UNKNOWN_SPEAKER,
            "start_time": round(u.t0, 3),
            "end_time": round(u.t1, 3),
            "words": u.text,
            "segment_id": u.segment_id,
        }
        if u.words:
            row["word_times"] = [[w.text.strip(), round(w.t0, 3), round(max(w.t1, w.t0), 3)] for w in u.words]
        if u.azimuth_deg is not None:
            row["azimuth_deg"] = round(u.azimuth_deg, 1)
        rows.append(row)
    return json.dumps(rows, indent=1, ensure_ascii=False) + "\n"


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webvtt(segments: Sequence[TranscriptUpdate], session: str) -> str:
    out = ["WEBVTT", ""]
    for u in segments:
        out.append(u.segment_id)
        out.append(f"{_clock(u.t0, '.')} --> {_clock(max(u.t1, u.t0 + 0.001), '.')}")
        text = _vtt_escape(u.text)
        out.append(f"<v {_vtt_escape(u.speaker)}>{text}" if u.speaker else text)
        out.append("")
    return "\n".join(out) + "\n"


def srt(segments: Sequence[TranscriptUpdate], session: str) -> str:
    out = []
    for i, u in enumerate(segments, 1):
        out.append(str(i))
        out.append(f"{_clock(u.t0, ',')} --> {_clock(max(u.t1, u.t0 + 0.001), ',')}")
        text = u.text.replace("-->", "->")
        out.append(f"{u.speaker}: {text}" if u.speaker else text)
        out.append("")
    return "\n".join(out) + ("\n" if out else "")


def rttm(segments: Sequence[TranscriptUpdate], session: str) -> str:
    file_id = speaker_token(session)
    lines = [
        f"SPEAKER {file_id} 1 {u.t0:.3f} {max(u.t1 - u.t0, 0.0):.3f} <NA> <NA> {speaker_token(u.speaker)} <NA> <NA>"
        for u in segments
    ]
    return "\n".join(lines) + ("\n" if lines else "")


def stm(segments: Sequence[TranscriptUpdate], session: str) -> str:
    file_id = speaker_token(session)
    lines = [f"{file_id} 1 {speaker_token(u.speaker)} {u.t0:.3f} {u.t1:.3f} {u.text}" for u in segments]
    return "\n".join(lines) + ("\n" if lines else "")


def ctm(segments: Sequence[TranscriptUpdate], session: str) -> str:
    file_id = speaker_token(session)
    lines = []
    for u in segments:
        for w in u.words:
            conf = f"{w.confidence:.4f}" if w.confidence is not None else "1.0000"
            lines.append(f"{file_id} 1 {w.t0:.3f} {max(w.t1 - w.t0, 0.0):.3f} {w.text} {conf}")
    return "\n".join(lines) + ("\n" if lines else "")


#: format name -> (file suffix, renderer)
FORMATS: dict[str, tuple[str, Callable[[Sequence[TranscriptUpdate], str], str]]] = {
    "seglst": (".seglst.json", seglst),
    "vtt": (".vtt", webvtt),
    "srt": (".srt", srt),
    "rttm": (".rttm", rttm),
    "stm": (".stm", stm),
    "ctm": (".ctm", ctm),
}
