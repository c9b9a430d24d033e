"""Overload protection for recognisers: drop whole speech segments, never random audio.

When recognition is slower than real time (a big model, a busy machine), audio waits in
front of it and every word arrives later than the last. Dropping blocks of audio at random
(an edge's ``drop_oldest``) keeps up but garbles what is recognised: a segment with holes
in it decodes into nonsense (or, missing its last chunk, is never finalised). A transcript
with some utterances missing, each one intact, is more useful than one where every
utterance is damaged. So this node sits in front of the recogniser and, in a live run,
predicts when each segment's final text would come out:

    predicted = backlog (how long ago the audio now at hand was captured)
              + downstream (how long the recogniser took, lately, from a segment's last
                audio passing here to its final text being written)

* a segment that starts while ``predicted`` is above ``admit`` of the budget is **dropped
  whole** (the recogniser never sees it, so dropping costs nothing and the backlog drains
  at once);
* an admitted segment is **cut short** as soon as ``predicted`` (plus ``decode_rtf`` per
  second of its length, while no measurement exists) passes ``cut`` of the budget: the
  recogniser finalises what it has, the rest of the segment is dropped.

The backlog is read off the clock: the wall time now minus the capture time of the packet
at hand. For that the backlog must queue *in front of* this node: give the edge from here
to the recogniser a small capacity (2-4 packets) and the edge in front of it room for the
budget (``capacity_s``). The downstream time is measured, not assumed: the transcript
writer records each final's latency with its media time (``RunContext.latency``), and this
node pairs it with the moment that segment's last chunk passed here; the largest of the
last few measurements is used, so a recogniser that slows down (a busy machine) tightens
the shedding at once. Measurements older than ``forget`` budgets (wall time) are forgotten:
while every segment is being dropped no final comes to measure, and without forgetting one
slow spell would shut recognition out for the rest of the meeting (seen in a 10-minute live
run: downstream stuck at 6.2 s > 5 s admitted, 90 of 132 segments dropped, nothing
transcribed after minute 4). Once forgotten, the next segment is admitted on the prior and
its final measures the recogniser afresh.

Replays (not live) pass everything through, so results stay deterministic. Counts go to
``metrics.json`` under ``shedding`` and to the live views.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any, Literal, Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline import In, Node, Out, Packet, SpeechAudio, StreamInfo


class ShedParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    budget_s: float = Field(10.0, gt=0, description="End-to-end latency budget of final text: capture of a segment's last word to its final transcript.")
    admit: float = Field(0.5, gt=0, le=1, description="A new segment is dropped whole when its predicted final latency exceeds this share of the budget.")
    cut: float = Field(0.65, gt=0, le=1, description="An admitted segment is ended early when its predicted final latency exceeds this share of the budget.")
    decode_rtf: float = Field(0.25, ge=0, description="Until downstream time has been measured: wall seconds expected per second of segment to produce its final.")
    forget: float = Field(3.0, gt=0, description="Downstream measurements older than this many budgets (wall time) are forgotten, so a slow spell does not shut recognition out for good.")
    min_keep_s: float = Field(1.0, ge=0, description="A segment is never cut before it holds this much speech (shorter pieces are rarely worth decoding).")
    feedback: str | None = Field("final_s", description="Latency series (RunContext.latency) to learn the downstream time from; null: never learn, use decode_rtf.")
    active: Literal["live", "realtime", "never"] = Field(
        "live", description="When to shed: 'live' (device input), 'realtime' (also paced replays), or 'never'."
    )


class _Seg:
    __slots__ = ("state", "end", "length")

    def __init__(self, state: str) -> None:
        self.state = state  # "open", "dropped" or "cut"
        self.end = 0  # end (sample index) of the audio passed on
        self.length = 0  # samples passed on


#: Downstream time assumed before the first measurement (on top of decode_rtf * length).
_PRIOR_S = 1.0
#: Measurements remembered (the largest is used).
_RECENT = 5


class SpeechShedder(Node):
    """Keep a slow recogniser within a latency budget by dropping whole speech segments.

    Sits between a voice activity detector and a recogniser. In a live run it drops
    segments that start while the recogniser is too far behind and ends segments early
    that would finish too late, learning from the transcript's measured latency how long
    the recogniser takes; replays pass everything. See the module documentation.
    """

    type_name = "speech.shed"
    Params = ShedParams
    inputs = {"speech": In(SpeechAudio, "Speech segments from a voice activity detector.")}
    outputs = {"speech": Out(SpeechAudio, "The segments admitted, whole or cut short.", lag=0.0)}

    params: ShedParams

    def configure(self, inputs: Mapping[str, StreamInfo]) -> Mapping[str, StreamInfo]:
        return {"speech": inputs.get("speech", StreamInfo())}

    def open(self) -> None:
        ctx = self.context
        mode = self.params.active
        self.watching = ctx.live or ctx.realtime
        self.shedding = mode != "never" and (ctx.live or (mode == "realtime" and ctx.realtime))
        self._segs: dict[int, _Seg] = {}
        self._passed: deque[tuple[float, float]] = deque(maxlen=64)  # (media end of a segment's last chunk, wall time it passed)
        self._seen: Any = None
        self._downstream: deque[tuple[float, float]] = deque(maxlen=_RECENT)  # (wall time measured, seconds)
        self.stats: dict[str, Any] = {
            "budget_s": self.params.budget_s, "active": self.shedding,
            "segments": 0, "segments_dropped": 0, "segments_cut": 0,
            "speech_s": 0.0, "speech_dropped_s": 0.0, "lag_s": 0.0, "max_lag_s": 0.0, "downstream_s": None,
        }
        self._last_report = 0.0

    # -- the model ------------------------------------------------------------------------------
    def _learn(self) -> None:
        """Pair the newest final's latency with when its segment's last audio passed here."""
        name = self.params.feedback
        if name is None:
            return
        last = self.context.latency.last.get(name)
        if last is None or last is self._seen:
            return
        self._seen = last
        media_t, latency = last
        if media_t is None:
            return
        for t1, passed in self._passed:
            if t1 >= media_t - 1e-9:
                written = latency + self.context.clock.wall_at(media_t)
                self._downstream.append((time.time(), max(written - passed, 0.0)))
                self.stats["downstream_s"] = round(self._worst(), 3)
                return

    def _worst(self) -> float:
        """The largest downstream time still remembered."""
        return max(d for _, d in self._downstream)

    def _expected(self, lag: float, seconds: float) -> float:
        """Predicted latency of a final if the segment, ``seconds`` long, ended now."""
        stale = time.time() - self.params.forget * self.params.budget_s
        while self._downstream and self._downstream[0][0] < stale:
            self._downstream.popleft()
        if self._downstream:
            return lag + self._worst()
        prior = _PRIOR_S + self.params.decode_rtf * seconds
        if self._passed and self.params.feedback is not None:
            # Nothing measured yet, but a segment has been passed on and its final has not
            # come: the recogniser takes at least this long (until the budget says the
            # segment must have produced nothing).
            waited = time.time() - self._passed[0][1]
            if waited < self.params.budget_s:
                prior = max(prior, waited)
        return lag + prior

    # -- streaming --------------------------------------------------------------------------------
    def _lag(self, packet: Packet) -> float:
        return time.time() - self.context.clock.wall_at(packet.t1)

    def process(self, port: str, packet: Packet) -> None:
        chunk: SpeechAudio = packet.payload
        n = len(chunk.samples)
        st = self.stats
        st["speech_s"] += n / chunk.rate
        lag = 0.0
        if self.watching:  # the backlog is worth showing even when nothing is shed
            lag = self._lag(packet)
            st["lag_s"] = round(lag, 3)
            if lag > st["max_lag_s"]:
                st["max_lag_s"] = round(lag, 3)
        if not self.shedding:
            self.emit("speech", packet)
            if self.watching:
                self._maybe_report()
            return
        self._learn()
        p = self.params
        budget = p.budget_s
        seg = self._segs.get(chunk.segment_id)
        if seg is None:
            st["segments"] += 1
            admit = self._expected(lag, p.min_keep_s) <= p.admit * budget
            seg = self._segs[chunk.segment_id] = _Seg("open" if admit else "dropped")
            if not admit:
                st["segments_dropped"] += 1
        if seg.state == "open" and not chunk.final and seg.length >= p.min_keep_s * chunk.rate:
            if self._expected(lag, (seg.length + n) / chunk.rate) > p.cut * budget:
                seg.state = "cut"
                st["segments_cut"] += 1
                end = SpeechAudio(chunk.segment_id, np.zeros(0, dtype=np.float32), chunk.rate, seg.end, final=True, end=seg.end)
                self.emit("speech", Packet(packet.t0, packet.t0, end))
                self._passed.append((seg.end / chunk.rate, time.time()))
        if seg.state == "open":
            seg.length += n
            seg.end = max(seg.end, chunk.start + n)
            self.emit("speech", packet)
            if chunk.final:
                self._passed.append((packet.t1, time.time()))
        else:
            st["speech_dropped_s"] += n / chunk.rate
        if chunk.final:
            del self._segs[chunk.segment_id]
        self._maybe_report()

    def _maybe_report(self) -> None:
        now = time.monotonic()
        if now - self._last_report > 0.5:
            self._report(now)

    def _report(self, now: float) -> None:
        self._last_report = now
        st = dict(self.stats)
        st["speech_s"] = round(st["speech_s"], 2)
        st["speech_dropped_s"] = round(st["speech_dropped_s"], 2)
        self.context.report.setdefault("shedding", {})[self.id] = st

    def flush(self) -> None:
        if self.watching:
            self._report(time.monotonic())
