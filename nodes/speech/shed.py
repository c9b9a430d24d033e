"""Overload protection for recognisers: drop whole speech segments, never random audio.

When recognition is slower than real time (a big model, a busy machine), audio waits in
front of it and every word arrives later than the last. Dropping blocks of audio at random
(an edge's ``drop_oldest``) keeps up but garbles what is recognised: a segment with holes
in it decodes into nonsense, and its partial text flickers. A transcript with some
utterances missing, each one intact, is more useful than one where every utterance is
damaged. So this node sits in front of the recogniser and, in a live run:

* **drops stale segments whole**: a segment whose speech starts when the backlog in front
  of the recogniser is already more than ``admit`` of the budget behind real time is not
  passed on at all (the recogniser never sees it, so dropping costs nothing and the
  backlog drains at once);
* **cuts long segments short**: when an admitted segment would push its final past
  ``cut`` of the budget, it is ended there (the recogniser finalises what it has) and the
  rest of it is dropped.

How far behind the recogniser is, is read off the clock: the wall time now minus the
capture time of the audio in the packet at hand. For that the backlog must queue *in
front of* this node: give the edge from here to the recogniser a small capacity (2-4
packets) and the edge in front of it room for the budget (``capacity_s``).

Replays (not live) pass everything through, so results stay deterministic. Counts go to
``metrics.json`` under ``shedding`` and to the live views.
"""

from __future__ import annotations

import time
from typing import Any, Literal, Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline import In, Node, Out, Packet, SpeechAudio, StreamInfo


class ShedParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    budget_s: float = Field(10.0, gt=0, description="End-to-end latency budget of final text: capture of a segment's last word to its final transcript.")
    admit: float = Field(0.35, gt=0, le=1, description="A new segment is dropped whole when the backlog exceeds this share of the budget.")
    cut: float = Field(0.5, gt=0, le=1, description="An admitted segment is ended early when backlog + its expected decoding time exceed this share of the budget.")
    decode_rtf: float = Field(0.25, ge=0, description="Expected wall seconds to decode a second of a segment once it ends (final pass), reserved from the budget.")
    min_keep_s: float = Field(1.0, ge=0, description="A segment is never cut before it holds this much speech (shorter pieces are rarely worth decoding).")
    active: Literal["live", "realtime", "never"] = Field(
        "live", description="When to shed: 'live' (device input), 'realtime' (also paced replays), or 'never'."
    )


class _Seg:
    __slots__ = ("state", "end", "length")

    def __init__(self, state: str) -> None:
        self.state = state  # "open", "dropped" or "cut"
        self.end = 0  # end (sample index) of the audio passed on
        self.length = 0  # samples passed on


class SpeechShedder(Node):
    """Keep a slow recogniser within a latency budget by dropping whole speech segments.

    Sits between a voice activity detector and a recogniser. In a live run it drops
    segments that start while the recogniser is too far behind and ends segments early
    that would finish too late; replays pass everything. See the module documentation.
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
        self.stats: dict[str, Any] = {
            "budget_s": self.params.budget_s, "active": self.shedding,
            "segments": 0, "segments_dropped": 0, "segments_cut": 0,
            "speech_s": 0.0, "speech_dropped_s": 0.0, "lag_s": 0.0, "max_lag_s": 0.0,
        }
        self._last_report = 0.0

    def _lag(self, packet: Packet) -> float:
        return time.time() - self.context.clock.wall_at(packet.t1)

    def process(self, port: str, packet: Packet) -> None:
        chunk: SpeechAudio = packet.payload
        n = len(chunk.samples)
        st = self.stats
        st["speech_s"] += n / chunk.rate
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
        p = self.params
        seg = self._segs.get(chunk.segment_id)
        if seg is None:
            st["segments"] += 1
            admit = lag + p.decode_rtf * p.min_keep_s <= p.admit * p.budget_s
            seg = self._segs[chunk.segment_id] = _Seg("open" if admit else "dropped")
            if not admit:
                st["segments_dropped"] += 1
        if seg.state == "open" and not chunk.final and seg.length >= p.min_keep_s * chunk.rate:
            expected = lag + p.decode_rtf * (seg.length + n) / chunk.rate
            if expected > p.cut * p.budget_s:
                seg.state = "cut"
                st["segments_cut"] += 1
                end = SpeechAudio(chunk.segment_id, np.zeros(0, dtype=np.float32), chunk.rate, seg.end, final=True, end=seg.end)
                self.emit("speech", Packet(packet.t0, packet.t0, end))
        if seg.state == "open":
            seg.length += n
            seg.end = max(seg.end, chunk.start + n)
            self.emit("speech", packet)
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
