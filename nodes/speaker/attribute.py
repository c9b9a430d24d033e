"""Speaker-attributed transcript: give every word the speaker active at its time, split segments at changes."""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pipeline import In, Node, Out, Packet, SpeakerTurn, StreamInfo, TranscriptUpdate, Word


class AttributeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    split: bool = Field(True, description="Split a final segment where the speaker changes (ids '<segment>.<k>'); else the "
                        "segment takes its majority speaker.")
    min_run_s: float = Field(0.4, ge=0, description="A run of words shorter than this joins its neighbour's speaker (a label "
                             "flicker is not a turn).")
    max_gap_s: float = Field(2.0, ge=0, description="A word no turn covers takes the nearest turn within this (s); else no speaker.")
    horizon_s: float = Field(900.0, gt=0, description="Final segments are kept this long (media s) for relabels; older ones are settled.")


class _Final:
    __slots__ = ("emitted", "update")

    def __init__(self, update: TranscriptUpdate) -> None:
        self.update = update
        self.emitted: dict[str, tuple[str | None, str, float, float]] = {}  # sub-id -> (speaker, text, t0, t1) as last sent


class SpeakerAttribution(Node):
    """Join the transcript with speaker turns: every word gets the speaker talking at its time.

    A final segment is split into runs of one speaker (ids ``<segment>.<k>`` when it splits,
    the segment's own id when it does not), each with the run's words, times and mean
    direction. When a diariser later relabels turns (a higher revision), every final segment
    they touch is recomputed and re-sent with a higher revision; sub-segments that no longer
    exist are retracted. So every sink downstream (files, console, views) follows relabels
    through the transcript's ordinary revision rule. Partials take the latest speaker.
    """

    type_name = "speaker.attribute"
    Params = AttributeParams
    inputs = {
        "transcript": In(TranscriptUpdate, "Transcript updates from a recogniser."),
        "turns": In(SpeakerTurn, "Speaker turns from a diariser (revisions relabel)."),
    }
    outputs = {"transcript": Out(TranscriptUpdate, "Speaker-attributed transcript updates.")}

    params: AttributeParams

    def configure(self, inputs: Mapping[str, StreamInfo]) -> Mapping[str, StreamInfo]:
        return {"transcript": inputs.get("transcript", StreamInfo())}

    def open(self) -> None:
        self._turns: dict[str, SpeakerTurn] = {}
        self._starts: list[tuple[float, str]] = []  # (t0, turn id), sorted
        self._finals: dict[str, _Final] = {}
        self._rev: dict[str, int] = {}
        self._last_at = 0.0
        self._latest: SpeakerTurn | None = None

    # -- turns ----------------------------------------------------------------------------------
    def _speaker_at(self, t0: float, t1: float) -> tuple[str | None, float | None]:
        """The speaker with the most overlap of [t0, t1] (else the nearest turn within max_gap_s)."""
        i = bisect.bisect_right(self._starts, (t1, "\uffff"))
        best: dict[str, float] = {}
        az: dict[str, float | None] = {}
        nearest, gap = None, self.params.max_gap_s
        for k in range(i - 1, -1, -1):
            ts, tid = self._starts[k]
            turn = self._turns[tid]
            if turn.t1 < t0 - 30.0 and ts < t0 - 60.0:
                break
            ov = min(turn.t1, t1) - max(turn.t0, t0)
            if ov > 0 or (ov == 0 and t0 == t1 and turn.t0 <= t0 <= turn.t1):
                best[turn.speaker] = best.get(turn.speaker, 0.0) + max(ov, 1e-6)
                az.setdefault(turn.speaker, turn.azimuth_deg)
            else:
                d = max(turn.t0 - t1, t0 - turn.t1)
                if d <= gap:
                    nearest, gap = turn, d
        if best:
            spk = max(best.items(), key=lambda kv: kv[1])[0]
            return spk, az.get(spk)
        for k in range(i, min(i + 3, len(self._starts))):  # turns just after
            turn = self._turns[self._starts[k][1]]
            d = turn.t0 - t1
            if d <= gap:
                nearest, gap = turn, d
        return (nearest.speaker, nearest.azimuth_deg) if nearest else (None, None)

    # -- attribution ------------------------------------------------------------------------------
    def _runs(self, u: TranscriptUpdate) -> list[tuple[str | None, float | None, list[Word]]]:
        if not u.words or not self.params.split:
            spk, az = self._speaker_at(u.t0, u.t1)
            return [(spk, az, list(u.words))]
        labels = [self._speaker_at(w.t0, max(w.t1, w.t0)) for w in u.words]
        runs: list[list[Any]] = []
        for w, (spk, az) in zip(u.words, labels):
            if runs and runs[-1][0] == spk:
                runs[-1][2].append(w)
            else:
                runs.append([spk, az, [w]])
        changed = True
        while changed and len(runs) > 1:  # absorb flickers into the longer neighbour
            changed = False
            for k, r in enumerate(runs):
                dur = r[2][-1].t1 - r[2][0].t0
                if dur < self.params.min_run_s:
                    nb = [j for j in (k - 1, k + 1) if 0 <= j < len(runs)]
                    j = max(nb, key=lambda j: runs[j][2][-1].t1 - runs[j][2][0].t0)
                    if j < k:
                        runs[j][2].extend(r[2])
                    else:
                        runs[j][2][:0] = r[2]
                    del runs[k]
                    changed = True
                    break
            merged: list[list[Any]] = []
            for r in runs:
                if merged and merged[-1][0] == r[0]:
                    merged[-1][2].extend(r[2])
                else:
                    merged.append(r)
            runs = merged
        return [(r[0], r[1], r[2]) for r in runs]

    def _next_rev(self, sid: str, upstream: int = 0) -> int:
        rev = max(self._rev.get(sid, -1) + 1, upstream)
        self._rev[sid] = rev
        return rev

    def _out(self, u: TranscriptUpdate, at: float) -> None:
        at = max(at, self._last_at)
        self._last_at = at
        self.emit("transcript", Packet(at, at, u))

    def _attribute(self, f: _Final, at: float) -> None:
        u = f.update
        runs = self._runs(u)
        subs: dict[str, tuple[str | None, float | None, list[Word]]] = {}
        if len(runs) == 1:
            subs[u.segment_id] = runs[0]
        else:
            for k, r in enumerate(runs):
                subs[f"{u.segment_id}.{k}"] = r
        for sid, (spk, az, words) in subs.items():
            text = " ".join(w.text.strip() for w in words) if len(subs) > 1 else u.text
            t0, t1 = (words[0].t0, max(w.t1 for w in words)) if len(subs) > 1 else (u.t0, u.t1)
            key = (spk, text, t0, t1)
            if f.emitted.get(sid) == key:
                continue
            f.emitted[sid] = key
            extra = dict(u.extra)
            if sid != u.segment_id:
                extra["split_of"] = u.segment_id  # the recogniser's segment (latency is measured per segment)
            self._out(TranscriptUpdate(sid, "final", t0, t1, text, list(words), spk, self._next_rev(sid, u.revision),
                                       az if az is not None else u.azimuth_deg, extra, speech_t0=u.speech_t0,
                                       speech_t1=u.speech_t1), at)
        for sid in [s for s in f.emitted if s not in subs]:  # retract sub-segments that no longer exist
            del f.emitted[sid]
            self._out(TranscriptUpdate(sid, "final", u.t0, u.t0, "", [], None, self._next_rev(sid)), at)

    def process(self, port: str, packet: Packet) -> None:
        if port == "turns":
            turn: SpeakerTurn = packet.payload
            if turn.overlap:
                return  # a second talker under the main one: the recogniser transcribed the main one
            old = self._turns.get(turn.turn_id)
            if old is not None and turn.revision < old.revision:
                return
            self._turns[turn.turn_id] = turn
            if old is None:
                bisect.insort(self._starts, (turn.t0, turn.turn_id))
            self._latest = turn
            for held in list(self._finals.values()):  # a late or revised turn: recompute the finals it touches
                said = held.update
                if said.t1 >= turn.t0 - self.params.max_gap_s and said.t0 <= turn.t1 + self.params.max_gap_s:
                    self._attribute(held, packet.t0)
            self._prune(packet.t0)
            return
        u: TranscriptUpdate = packet.payload
        if not u.is_final:
            spk, az = self._speaker_at(u.t0, u.t1)
            if spk is None and self._latest is not None:
                spk = self._latest.speaker
            self._rev[u.segment_id] = max(self._rev.get(u.segment_id, -1), u.revision)
            self._out(TranscriptUpdate(u.segment_id, u.status, u.t0, u.t1, u.text, list(u.words), spk, u.revision,
                                       az if az is not None else u.azimuth_deg, dict(u.extra), speech_t0=u.speech_t0,
                                       speech_t1=u.speech_t1), packet.t0)
            return
        f = self._finals.get(u.segment_id)
        if u.retracted:
            if f is not None:
                for sid in list(f.emitted):
                    self._out(TranscriptUpdate(sid, "final", u.t0, u.t0, "", [], None, self._next_rev(sid, u.revision)), packet.t0)
                del self._finals[u.segment_id]
            elif u.segment_id in self._rev:  # a partial was shown
                self._out(TranscriptUpdate(u.segment_id, "final", u.t0, u.t0, "", [], None, self._next_rev(u.segment_id, u.revision)), packet.t0)
            return
        if f is None:
            f = self._finals[u.segment_id] = _Final(u)
            if u.segment_id in self._rev:
                f.emitted[u.segment_id] = (None, "", -1.0, -1.0)  # the partial shown under this id (retract it if the segment splits)
        else:
            f.update = u
        self._attribute(f, packet.t0)

    def _prune(self, t: float) -> None:
        horizon = t - self.params.horizon_s
        for sid in [s for s, f in self._finals.items() if f.update.t1 < horizon]:
            del self._finals[sid]
        while self._starts and self._turns[self._starts[0][1]].t1 < horizon - 60.0:
            _, tid = self._starts.pop(0)
            del self._turns[tid]
