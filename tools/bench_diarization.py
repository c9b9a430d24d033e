#!/usr/bin/env python3
"""Diarisation benchmark: location-aware (particle filter + Kalman-AHC) against embedding-only, on simulated meetings.

1. **Simulated meetings** (3-4 talkers by default, `--talkers N` for more; some walking, circular7, RT60 0.3-0.6 s, SNR 15-20 dB,
   ``meetflow simulate``). The front end (mics -> STFT -> DOA, and beam -> VAD -> speaker embeddings)
   runs once per meeting through the engine; its packets are then fed to ``speaker.diarizer``
   in each mode, so every peer sees the same embeddings and directions:
     * ``embedding``      online clustering of embeddings only (the baseline),
     * ``embedding+ahc``  the baseline with the embedding-only AHC refinement (no location either),
     * ``embedding+kahc`` the baseline refined by Kalman-AHC (location enters only there),
     * ``particle``       the joint location/identity particle filter alone,
     * ``particle+kahc``  particle filter + Kalman-AHC refinement (the default for arrays),
     * ``pf+kahc-noreseed`` the same, but new speech labelled by the first particle filter alone
                          instead of one restarted from each refinement's labels (the peer of ``reseed``),
     * ``pf+kahc-noonset`` the default, but a segment's opening (0.75 and 1.25 s) windows keep their own live
                          label instead of following the segment's first full window (the peer of ``onsets_follow``),
     * ``pf+kahc-mean``   the default, but with embeddings of the channel mean instead of the beam
                          (``array.beam``) that graphs/meeting.json steers at the talker (the beam's peer),
     * ``pf+kahc-nocomp`` the default, but with embeddings as the encoder gives them (``voice_compensation``
                          off: the peer of the within-talker compensation, nodes/speaker/compensation.py),
     * ``pf+kahc-known``, ``embedding+ahc-known``  the default, and the mono one (refinement without
                          location), told how many people take part (``speakers``, from the reference).
     * ``pf+kahc-forget``, ``embedding+ahc-forget``  the default, and the mono one, but refinement keeps
                          nothing of the speech before its horizon (``remember`` off; the same on meetings shorter than it).
     * ``pf+kahc-15s``, ``embedding+ahc-15s``  the default, and the mono one, refining every 15 s instead of
                          every 5 s (``refine_every_s``: sooner passes correct live labels sooner and cost more).
     * ``pf+kahc-nobehind``, ``pf+kahc-noaround``  the default without one way of finding a second talker
                          under the main one (``overlap_behind_s``: behind a clear stretch, live; ``overlap_around_s``:
                          again after each refinement, with places on both sides in time). The other peers
                          (``-nopitch``, ``-notimbre``, ``-noreseg``, ``-nopiece``, ``-nohandover``, ...) are listed with their parameters in ``MODES``;
                          ``--modes`` runs only the ones named beside the baseline and the default.
   Every mode but ``pf+kahc-mean`` hears the speech through the beam (``--beam``; ``none``: the channel mean).
   Reported per mode: DER (pyannote.metrics, collar 0.5 s total = +-0.25 s, overlap scored),
   its components, the ratio to the embedding-only DER, label persistence (a talker silent for
   >= 10 s gets, when speaking again, the label they had before; "own": and that label is the
   one DER's mapping gives them, so two talkers merged into one label do not count; and how many of the returns lost had a
   turn spoken mostly under another talker, a diagnostic; and, once for all modes, how many returns the voice alone could
   keep at best, with the true turns and talkers: ``voice_bound``; and, for the default, every talker's next turn
   under their last turn's label by the silence between, 0-3 / 3-10 / 10-20 / 20+ s: ``kept_by_silence``, which
   tells forgetting a quiet talker from misnaming a turn), the same as a live viewer saw it 1 s and 2 s into
   the return and at its end (the labels sent by then), and label delay (media time
   from a reference turn's onset until a label for it is emitted; targets: <= 1 s), how many
   meetings' final labels read spk1..spkK without a gap ("gapless"), and the live view: DER
   of the labels as they stood 0, 5 and 10 s of media after each stretch ended
   (what a live viewer saw then; refinement relabels every 5 s), and the same views' wrong labels
   split by whether the true talker had already said 10 s (a voice still being learnt, or known),
   and the diariser's CPU seconds over the cached front end, summed over the meetings, with their
   ratio to the default's (``pf+kahc-15s``: what refining every 5 s costs). Timings assume this is
   the only busy process: two benches at once on two cores each ran 8 times slower until numpy's
   BLAS was kept to one thread (``OPENBLAS_NUM_THREADS=1``; the numbers do not change).
   Targets: location-aware DER <= 0.8 x embedding-only DER, and <= 15% absolute.
2. **AMI excerpts** (../shared/data/ami_excerpts, mono, real; skipped when absent):
   embedding-only diarisation against a simple baseline (all speech one speaker, same VAD), and
   told how many people take part.

Run:  python tools/bench_diarization.py [--meetings 8] [--first 1] [--duration 90] [--json FILE]
      python tools/bench_diarization.py --meetings 0        # the AMI excerpts alone (seconds)
"""

from __future__ import annotations

import argparse
import heapq
import json
import pickle
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nodes  # noqa: F401  (registers node types)
from nodes.sim.scenario import MeetingConfig
from nodes.speaker.compensation import BUNDLED, VoiceCompensation
from nodes.speaker.units import unit_vector
from pipeline import In, Node, Packet, RunContext, build_graph, run_graph
from pipeline.ports import StreamInfo

ROOT = Path(__file__).resolve().parents[1]
AMI = ROOT.parent / "shared" / "data" / "ami_excerpts"
if not AMI.exists():
    AMI = Path("/work/shared/data/ami_excerpts")

CAPTURED: dict[str, list[tuple[float, str, Packet]]] = {}
CLOCK = [0.0]


class _Collect(Node):
    """Keeps packets with the media time the run had reached when each arrived (the emission time)."""

    type_name = "bench.collect_dz"
    inputs = {"x": In(object)}

    def process(self, port: str, packet: Packet) -> None:
        CLOCK[0] = max(CLOCK[0], packet.t1)
        CAPTURED.setdefault(self.id, []).append((CLOCK[0], self.id, packet))


def extract(wav: Path, array: bool, beam: str = "superdirective") -> dict[str, Any]:
    """Run the front end once; return window embeddings and direction blocks with their arrival times."""
    nodes_: list[dict[str, Any]] = [
        {"id": "source", "type": "io.audio_file", "params": {"path": str(wav), "rate": 16000, "block_ms": 20}},
        {"id": "vad", "type": "speech.vad"}, {"id": "embed", "type": "speaker.embedding"}, {"id": "emb", "type": "bench.collect_dz"}]
    edges: list[Any] = ["vad.speech -> embed.speech", "embed.windows -> emb.x"]
    if array:
        nodes_ += [{"id": "mics", "type": "array.mics"}, {"id": "stft", "type": "array.stft"}, {"id": "doa", "type": "array.doa"},
                   {"id": "dirs", "type": "bench.collect_dz"}]
        edges += ["source.audio -> mics.audio", "mics.audio -> stft.audio", "stft.spectrum -> doa.spectrum", "doa.directions -> dirs.x"]
    if array and beam != "none":  # as graphs/meeting.json: the speaker branch hears a beam steered at the strongest direction
        nodes_.append({"id": "beam", "type": "array.beam", "params": {"kind": beam}})
        edges += ["mics.audio -> beam.audio", "doa.directions -> beam.directions", "beam.audio -> vad.audio"]
    else:  # mono, or the peer: the channel mean
        nodes_.append({"id": "mix", "type": "audio.mixdown"})
        edges += ["source.audio -> mix.audio", "mix.audio -> vad.audio"]
    CAPTURED.clear()
    CLOCK[0] = 0.0
    graph = build_graph({"meetflow": 1, "name": "dz_front", "nodes": nodes_, "edges": edges}, {})
    t = time.perf_counter()
    run_graph(graph, RunContext(), "inline")
    return {"emb": CAPTURED.get("emb", []), "dirs": CAPTURED.get("dirs", []), "seconds": time.perf_counter() - t}


def diarize(front: dict[str, Any], **params: Any) -> tuple[list[Any], dict[str, float]]:
    """Feed cached front-end packets to a speaker.diarizer; return the newest turns and the first emission time of each."""
    history = emissions(front, **params)
    return seen_after(history, float("inf")), first_sent(history)


def emissions(front: dict[str, Any], **params: Any) -> list[tuple[float, Any]]:
    """Feed cached front-end packets to a speaker.diarizer; return every turn it sent (relabels too) with the media time it had reached."""
    return queued_emissions(front, **params)[0]


def queued_emissions(front: dict[str, Any], **params: Any) -> tuple[list[tuple[float, Any]], list[float]]:
    """``emissions``, and for each one the media time it would have been sent live, with the diariser's own time counted.

    The bench feeds packets as the front end produced them and stamps each emission with the
    media time reached, as if the diariser took no time. Live, packets arrive in real time and
    the diariser takes them one at a time: a packet that arrives while a refinement pass runs
    waits for it. Here each call's own CPU time (``time.thread_time``: the machine's other load
    does not count) is laid on a real-time clock: a call starts when its packet arrives or when
    the call before it ends, whichever is later, and an emission goes out at the call's start
    plus the CPU the call had spent when it emitted (a stretch's live label goes out before the
    pass its call then runs). What the engine's other nodes take from the same cores is not
    counted.
    """
    from nodes.speaker.diarizer import Diarizer, DiarizerParams

    ctx = RunContext()
    node = Diarizer("dz", DiarizerParams(**params), ctx)
    info = {"embeddings": StreamInfo()}
    if front["dirs"]:
        info["directions"] = StreamInfo()
    node.configure(info)
    node.open()
    history: list[tuple[float, Any]] = []
    ready: list[float] = []
    clock = [0.0]
    call = [0.0, 0.0]  # the running call's start on the real-time clock, and the thread CPU time when it started

    def emit(port: str, packet: Packet) -> None:
        history.append((clock[0], packet.payload))
        ready.append(call[0] + time.thread_time() - call[1])

    node.emit = emit  # type: ignore[method-assign]
    busy = 0.0  # when the diariser is done with the packets so far (real-time clock)

    def timed(arrived: float, work: Any, *args: Any) -> None:
        nonlocal busy
        call[0], call[1] = max(busy, arrived), time.thread_time()
        work(*args)
        busy = call[0] + time.thread_time() - call[1]

    # deliver as the front end produced them (the engine's watermarks let directions through as they come)
    stream = heapq.merge(((a, 0, k, a, p) for k, (a, _, p) in enumerate(front["dirs"])),
                         ((a, 1, k, a, p) for k, (a, _, p) in enumerate(front["emb"])))
    for _, kind, _, arrived, p in stream:
        clock[0] = max(clock[0], arrived)
        timed(arrived, node.process, "directions" if kind == 0 else "embeddings", p)
    timed(clock[0], node.flush)
    return history, ready


def first_ready(history: list[tuple[float, Any]], ready: list[float]) -> dict[str, float]:
    """When each turn was first sent, on ``queued_emissions``' real-time clock."""
    first: dict[str, float] = {}
    for (_, t), at in zip(history, ready):
        first.setdefault(t.turn_id, at)
    return first


def seen_after(history: list[tuple[float, Any]], delay: float) -> list[Any]:
    """The turns a live viewer holds ``delay`` seconds of media after each stretch ended (relabels applied as they came)."""
    view: dict[str, Any] = {}
    for clock, t in history:
        if t.turn_id not in view or clock <= t.t1 + delay:
            view[t.turn_id] = t
    return list(view.values())


def first_sent(history: list[tuple[float, Any]]) -> dict[str, float]:
    """The media time at which each turn was first sent."""
    first: dict[str, float] = {}
    for clock, t in history:
        first.setdefault(t.turn_id, clock)
    return first


def _segments(turns: list[Any]) -> list[tuple[float, float, str]]:
    """Non-empty turns as (start, end, speaker) for DER (an empty turn is a retraction)."""
    return [(x.t0, x.t1, x.speaker) for x in turns if x.t1 > x.t0]


def _mapping_runs(ref: list[tuple[float, float, str]]) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {}
    for a, b, s in sorted(ref):
        out.setdefault(s, []).append((a, b))
    return out


def _majority(turns: list[Any], a: float, b: float) -> str | None:
    acc: dict[str, float] = {}
    for t in turns:
        ov = min(t.t1, b) - max(t.t0, a)
        if ov > 0:
            acc[t.speaker] = acc.get(t.speaker, 0.0) + ov
    return max(acc.items(), key=lambda kv: kv[1])[0] if acc else None


def _kept(turns: list[Any], a0: float, b0: float, a1: float, b1: float) -> tuple[bool, str | None]:
    """Whether the turn [a1, b1] carries the label of the turn [a0, b0] (each by its majority label), and that earlier label."""
    before = _majority(turns, a0, b0)
    return before is not None and before == _majority(turns, a1, b1), before


def _alone_share(ref: list[tuple[float, float, str]], spk: str, a: float, b: float) -> float:
    """Share of ``spk``'s turn [a, b] during which no other reference talker speaks."""
    others = sorted((max(x, a), min(y, b)) for x, y, s in ref if s != spk and y > a and x < b)
    covered, end = 0.0, a
    for x, y in others:
        if y > end:
            covered += y - max(x, end)
            end = y
    return 1.0 - covered / max(b - a, 1e-9)


def _next_turns(ref: list[tuple[float, float, str]]) -> list[tuple[str, float, float, float, float]]:
    """Every pair of a talker's consecutive turns: (talker, turn before a0, b0, turn after a1, b1)."""
    return [(spk, a0, b0, a1, b1) for spk, runs in _mapping_runs(ref).items() for (a0, b0), (a1, b1) in zip(runs, runs[1:])]


def _returns(ref: list[tuple[float, float, str]], silence_s: float) -> list[tuple[str, float, float, float, float]]:
    """Every return of a talker after >= silence_s of their own silence: (talker, turn before a0, b0, turn after a1, b1)."""
    return [r for r in _next_turns(ref) if r[3] - r[2] >= silence_s]


#: Lower edges (s) of the bins of a talker's own silence that ``kept_by_silence`` counts over.
SILENCE_BINS: tuple[float, ...] = (0.0, 3.0, 10.0, 20.0)


def kept_by_silence(ref: list[tuple[float, float, str]], turns: list[Any]) -> list[tuple[int, int]]:
    """Per bin of ``SILENCE_BINS``: (talkers' next turns under the label of the turn before, such pairs).

    The persistence target counts returns after 10 s or more of silence; the same count over
    shorter silences tells whether a long one costs anything of its own (a diariser that forgets
    a quiet talker) or whether a return is lost as often as any turn is given to someone else.
    """
    out = [[0, 0] for _ in SILENCE_BINS]
    for _, a0, b0, a1, b1 in _next_turns(ref):
        k = sum(a1 - b0 >= lo for lo in SILENCE_BINS[1:])  # a negative silence (overlapping turns) counts in the first bin
        out[k][0] += int(_kept(turns, a0, b0, a1, b1)[0])
        out[k][1] += 1
    return [(k, n) for k, n in out]


def persistence(ref: list[tuple[float, float, str]], turns: list[Any], silence_s: float = 10.0) -> tuple[int, int, int, int]:
    """(kept, own, returns, lost_overlapped): talkers back after >= silence_s of their own silence; how many got their
    earlier label; how many of those kept the label that is theirs (the DER mapping's), not one shared with a talker it
    was merged into; and how many of the returns not kept had a turn (before or after) spoken mostly under another
    talker, where one label per moment must go to one of the two (a diagnostic: every return counts in the target)."""
    from nodes.speaker.evaluate import speaker_mapping

    kept = own = total = lost_overlapped = 0
    mine = speaker_mapping(ref, [(t.t0, t.t1, t.speaker) for t in turns if t.t1 > t.t0])
    for spk, a0, b0, a1, b1 in _returns(ref, silence_s):
        same, before = _kept(turns, a0, b0, a1, b1)
        total += 1
        kept += int(same)
        own += int(same and mine.get(spk) == before)
        lost_overlapped += int(not same and min(_alone_share(ref, spk, a0, b0), _alone_share(ref, spk, a1, b1)) < 0.5)
    return kept, own, total, lost_overlapped


def voice_names(windows: list[tuple[float, float, np.ndarray]], ref: list[tuple[float, float, str]]) -> dict[tuple[float, float, str], str]:
    """The true talker whose voice each reference turn is closest to, with segmentation and clustering perfect.

    A turn's voice is the sum of its windows' centred embeddings; each talker's is the sum of
    their other turns'; the turn is named by the highest cosine. Turns with no window of their
    own are left out. ``windows``: (start, end, embedding) of the embedding node's sliding windows.
    """
    if not windows:
        return {}
    x = np.array([w[2] for w in windows], dtype=float)
    x -= x.mean(axis=0)
    vec: dict[tuple[float, float, str], np.ndarray] = {}
    for a, b, spk in ref:
        idx = [k for k, (s0, e0, _) in enumerate(windows) if s0 >= a - 0.3 and e0 <= b + 0.3] or \
              [k for k, (s0, e0, _) in enumerate(windows) if e0 > a and s0 < b]
        if idx:
            vec[(a, b, spk)] = x[idx].sum(axis=0)
    sums: dict[str, np.ndarray] = {}
    for (_, _, spk), v in vec.items():
        sums[spk] = sums.get(spk, 0.0) + v
    return {turn: max(sums, key=lambda spk: float(unit_vector(v) @ unit_vector(sums[spk] - (v if spk == turn[2] else 0.0))))
            for turn, v in vec.items()}


def voice_right(names: dict[tuple[float, float, str], str], turn: tuple[float, float, str]) -> bool:
    """Whether ``voice_names`` names ``turn`` its own talker; a turn with no window of its own counts as right
    (nothing to name it by: not the voice's failure)."""
    return names.get(turn, turn[2]) == turn[2]


def voice_bound(windows: list[tuple[float, float, np.ndarray]], ref: list[tuple[float, float, str]],
                silence_s: float = 10.0) -> tuple[int, int, int]:
    """What the speaker encoder alone could keep at best: (kept, kept counting overlapped turns right, returns).

    Every reference turn is named by the closest true talker's voice (``voice_names``), so
    segmentation and clustering are perfect and only the voice decides; a return is kept when
    its turns before and after are both named right. Where the diariser falls short of this,
    the system lost returns the voice could tell; where this falls short of every return, the
    voice cannot, and only location can save them.
    """
    returns = _returns(ref, silence_s)
    if not windows:
        return 0, 0, len(returns)
    names = voice_names(windows, ref)
    kept = generous = 0
    for spk, a0, b0, a1, b1 in returns:
        r0, r1 = voice_right(names, (a0, b0, spk)), voice_right(names, (a1, b1, spk))
        kept += r0 and r1
        generous += (r0 or _alone_share(ref, spk, a0, b0) < 1.0) and (r1 or _alone_share(ref, spk, a1, b1) < 1.0)
    return kept, generous, len(returns)


def front_windows(front: dict[str, Any]) -> list[tuple[float, float, np.ndarray]]:
    """The sliding windows' (start, end, embedding) from a cached front end."""
    return [(p.payload.start, p.payload.end, p.payload.vector) for _, _, p in front["emb"] if p.payload.kind == "window"]


#: When a live viewer's labels are checked for a returning talker: this many seconds after their return began, and at its end.
LIVE_RETURN_MARKS: tuple[float | str, ...] = (1.0, 2.0, "end")


def snapshot(history: list[tuple[float, Any]], at: float) -> list[Any]:
    """The turns a live viewer holds at media time ``at``: every emission up to then, each turn's newest revision."""
    view: dict[str, Any] = {}
    for clock, t in history:
        if clock <= at:
            view[t.turn_id] = t
    return list(view.values())


def live_persistence(ref: list[tuple[float, float, str]], history: list[tuple[float, Any]],
                     silence_s: float = 10.0) -> dict[float | str, tuple[int, int]]:
    """Per mark in ``LIVE_RETURN_MARKS``: (returns whose label a live viewer saw kept then, returns).

    ``persistence`` scores the final labels; a viewer of a live meeting sees a talker come back
    under whatever label the diariser gives their first second of speech, corrected only by later
    passes. At the mark (1 s or 2 s after the return began, or when it ended) the viewer holds
    every emission made up to then: the return is kept when the speech heard of it so far and
    the talker's previous turn carry the same label (the previous one as it then reads, its
    corrections included).
    """
    returns = _returns(ref, silence_s)
    out: dict[float | str, tuple[int, int]] = {}
    for mark in LIVE_RETURN_MARKS:
        kept = 0
        for _, a0, b0, a1, b1 in returns:
            at = b1 if mark == "end" else min(b1, a1 + float(mark))
            view = snapshot(history, at)
            kept += int(_kept(view, a0, b0, a1, at)[0])
        out[mark] = (kept, len(returns))
    return out


def live_by_familiarity(ref: list[tuple[float, float, str]], history: list[tuple[float, Any]], final: list[Any],
                        known_s: float = 10.0) -> dict[float, dict[str, tuple[float, float]]]:
    """Per live delay: (speech seconds, seconds labelled wrong) for talkers new (under ``known_s`` of earlier speech) and known.

    Half the speech of a 90 s meeting falls in some talker's first 10 s, while their voice is still
    unknown; in an hour-long meeting almost none does. Splitting the live view's errors by how much
    the true talker had said before tells the two apart. A stretch is wrong when its label, mapped
    to a reference talker as the final labels map (DER's optimal mapping), is not the talker who
    spoke most of it; overlap turns are left out (one label per moment is scored).
    """
    from nodes.speaker.evaluate import speaker_mapping

    mine = speaker_mapping(ref, _segments(final))
    talker_of = {h: r for r, h in mine.items()}
    out: dict[float, dict[str, tuple[float, float]]] = {}
    for d in LIVE_DELAYS:
        acc = {"new": [0.0, 0.0], "known": [0.0, 0.0]}
        for t in seen_after(history, d):
            if t.t1 <= t.t0 or t.overlap:
                continue
            said: dict[str, float] = {}
            for a, b, spk in ref:
                if min(b, t.t1) > max(a, t.t0):
                    said[spk] = said.get(spk, 0.0) + min(b, t.t1) - max(a, t.t0)
            if not said:
                continue
            truth = max(said.items(), key=lambda kv: kv[1])[0]
            before = sum(max(0.0, min(b, t.t0) - a) for a, b, spk in ref if spk == truth)
            kind = acc["known" if before >= known_s else "new"]
            kind[0] += t.t1 - t.t0
            kind[1] += (t.t1 - t.t0) * (talker_of.get(t.speaker) != truth)
        out[d] = {k: (v[0], v[1]) for k, v in acc.items()}
    return out


def delays(ref: list[tuple[float, float, str]], turns: list[Any], first: dict[str, float]) -> list[float]:
    """Per reference turn (after >= 0.5 s of that talker's silence): when its first label came, minus its onset."""
    out = []
    for spk, runs in _mapping_runs(ref).items():
        for k, (a, b) in enumerate(runs):
            if k and a - runs[k - 1][1] < 0.5:
                continue
            cands = [first[t.turn_id] for t in turns if t.t1 > a and t.t0 < b]
            if cands:
                out.append(max(min(cands) - a, 0.0))
    return out


def overlap_coverage(ref: list[tuple[float, float, str]], turns: list[Any], step: float = 0.01) -> tuple[float, float, float]:
    """(seconds two or more reference talkers speak, seconds the turns name two or more talkers, seconds of both).

    DER counts an overlapped second missed by one label per moment like any other; these say how
    much of the overlapped speech the labels name both talkers for (recall: both / reference), and
    how often two labels at once are right to be (precision: both / turns).
    """
    end = max([b for _, b, _ in ref] + [t.t1 for t in turns] + [0.0])
    n = int(np.ceil(end / step)) + 1

    def count(rows: list[tuple[float, float, str]]) -> np.ndarray:
        talkers: dict[str, np.ndarray] = {}
        for a, b, who in rows:
            if b > a:
                talkers.setdefault(who, np.zeros(n, dtype=bool))[int(round(a / step)):int(round(b / step))] = True
        return np.sum(list(talkers.values()), axis=0) if talkers else np.zeros(n)

    both_ref = count(ref) >= 2
    both_hyp = count([(t.t0, t.t1, t.speaker) for t in turns]) >= 2
    return float(both_ref.sum() * step), float(both_hyp.sum() * step), float((both_ref & both_hyp).sum() * step)


def missed_parts(ref: dict[str, list[tuple[float, float, str]]], hyp: dict[str, list[tuple[float, float, str]]],
                 collar: float = 0.5, uem: dict[str, list[tuple[float, float]]] | None = None) -> tuple[float, float, float]:
    """(missed speech where nothing is labelled, missed speech where fewer talkers are labelled than speak, all speech), in
    seconds as DER counts them (each talker's speech counted; the same collar and UEM).

    DER's missed speech mixes two failures that ask for different fixes: speech no label covers (the
    voice activity detector or the diariser dropped it) and overlapped speech labelled with one
    talker where two speak. The first is the miss of a hypothesis that names, wherever it labels
    anything, as many talkers as could speak at once (so it never runs short of labels); the rest of
    the real miss is the second.
    """
    from nodes.speaker.evaluate import der

    most = max([len({s for *_, s in turns}) for turns in ref.values()] + [1])
    covered = {fid: [(a, b, f"cover{k}") for a, b, _ in turns for k in range(most)] for fid, turns in hyp.items()}
    real = der(ref, hyp, collar=collar, uem=uem, match_single_file=False)
    bare = der(ref, covered, collar=collar, uem=uem, match_single_file=False)
    return bare.missed * bare.total, max(real.missed * real.total - bare.missed * bare.total, 0.0), real.total


#: A mode parameter set to this takes the meeting's true number of talkers (a user who says how many people take part).
KNOWN = "known"

MODES = {
    "embedding": {"method": "embedding", "refine": False, "overlap": False, "voice_check": False},  # the baseline: no location anywhere
    "embedding+ahc": {"method": "embedding", "refine": True, "ahc_loc_weight": 0.0, "overlap": False},  # still no location
    "embedding+kahc": {"method": "embedding", "refine": True, "overlap": False},  # location only in the Kalman-AHC refinement
    "particle": {"method": "particle", "refine": False, "voice_check": False},  # the filter of 2109.11140 alone
    "particle+kahc": {"method": "particle", "refine": True},  # the default for arrays
    "pf+kahc-noreseed": {"method": "particle", "refine": True, "reseed": False},  # live labels from the first filter alone
    "pf+kahc-noonset": {"method": "particle", "refine": True, "onsets_follow": False},  # opening windows keep their own live label
    "pf+kahc-novoicecheck": {"method": "particle", "refine": True, "voice_check": False},  # live runs named by the filter alone
    "pf+kahc-nobehind": {"method": "particle", "refine": True, "overlap_behind_s": 0.0},  # second talkers not sought behind a clear stretch
    "pf+kahc-noaround": {"method": "particle", "refine": True, "overlap_around_s": 0.0},  # second talkers not sought again after each refinement
    "pf+kahc-mean": {"method": "particle", "refine": True, "front": "none"},  # embeddings of the channel mean, not the beam
    "pf+kahc-nocomp": {"method": "particle", "refine": True, "voice_compensation": "off"},  # embeddings as the encoder gives them
    "pf+kahc-nopitch": {"method": "particle", "refine": True, "ahc_pitch_weight": 0.0},  # refinement without the talkers' pitch
    "pf+kahc-notimbre": {"method": "particle", "refine": True, "ahc_timbre_weight": 0.0},  # refinement without the talkers' timbre
    "pf+kahc-noreseg": {"method": "particle", "refine": True, "ahc_reseg": False},  # refinement's labels not decoded again by timbre
    "pf+kahc-known": {"method": "particle", "refine": True, "speakers": KNOWN},  # the default told how many people take part
    "pf+kahc-forget": {"method": "particle", "refine": True, "remember": False},  # the default without voices past the horizon
    "pf+kahc-allvoices": {"method": "particle", "refine": True, "ahc_profile_min_s": 0.0},  # ... every remembered voice kept apart
    "pf+kahc-unbounded": {"method": "particle", "refine": True, "ahc_reassign_max_gain": 0.0},  # reassignment may grow a cluster without bound
    "pf+kahc-nopiece": {"method": "particle", "refine": True, "ahc_piece_margin": 0.0},  # small clusters just short of merging stay apart
    "pf+kahc-walkers": {"method": "particle", "refine": True, "ahc_seated_std_dps": 0.0},  # refinement scores every talker as a walker
    "pf+kahc-nohandover": {"method": "particle", "refine": True, "ahc_handover_deg": 0.0},  # hand-overs left where the windows' voice put them
    "pf+kahc-noonsetplace": {"method": "particle", "refine": True, "ahc_onset_place": False},  # an opening stretch follows wherever it was heard
    "pf+kahc-nostraddle": {"method": "particle", "refine": True, "ahc_straddle_follow": False},  # a stretch across a change of place keeps its live label
    "pf+kahc-nochain": {"method": "particle", "refine": True, "ahc_straddle_chain": 1},  # only a lone vague stretch at a change of place is placed by its blocks
    "pf+kahc-nopause": {"method": "particle", "refine": True, "ahc_split_pause_s": 0.0},  # a pause inside a segment leaves the location cut's gate as it is
    "embedding+ahc-novoicecheck": {"method": "embedding", "refine": True, "ahc_loc_weight": 0.0, "overlap": False, "voice_check": False},  # ... mono
    "embedding+ahc-forget": {"method": "embedding", "refine": True, "ahc_loc_weight": 0.0, "overlap": False, "remember": False},  # ... mono
    "embedding+ahc-known": {"method": "embedding", "refine": True, "ahc_loc_weight": 0.0, "overlap": False, "speakers": KNOWN},  # ... mono
    "embedding+ahc-nohandover": {"method": "embedding", "refine": True, "ahc_loc_weight": 0.0, "overlap": False, "ahc_handover_deg": 0.0},  # ... mono
    "embedding+ahc-nopitch": {"method": "embedding", "refine": True, "ahc_loc_weight": 0.0, "overlap": False, "ahc_pitch_weight": 0.0},  # ... mono
    "embedding+ahc-notimbre": {"method": "embedding", "refine": True, "ahc_loc_weight": 0.0, "overlap": False, "ahc_timbre_weight": 0.0},  # ... mono
    "embedding+ahc-noreseg": {"method": "embedding", "refine": True, "ahc_loc_weight": 0.0, "overlap": False, "ahc_reseg": False},  # ... mono
    "pf+kahc-vcnotimbre": {"method": "particle", "refine": True, "voice_check_timbre": 0.0},  # the live voice check by embeddings alone
    "pf+kahc-nolivetimbre": {"method": "particle", "refine": True, "live_timbre": 0.0},  # the live filter by embeddings and place alone
    "embedding+ahc-vcnotimbre": {"method": "embedding", "refine": True, "ahc_loc_weight": 0.0, "overlap": False,
                                 "voice_check_timbre": 0.0},  # ... mono
    "pf+kahc-rescore": {"method": "particle", "refine": True, "ahc_keep_scores": False},  # the default keeping nothing from pass to pass: every score and filter afresh (before pair_cache)
    "pf+kahc-15s": {"method": "particle", "refine": True, "refine_every_s": 15.0},  # the default refining every 15 s (before 5 s)
    "embedding+ahc-15s": {"method": "embedding", "refine": True, "ahc_loc_weight": 0.0, "overlap": False, "refine_every_s": 15.0},  # ... mono
}
#: A live viewer's labels are scored as they stood this many seconds after each stretch (then as finally revised).
LIVE_DELAYS = (0.0, 5.0, 10.0)


def score_mode(front: dict[str, Any], ref: dict[str, list[tuple[float, float, str]]], params: dict[str, Any]) -> dict[str, Any]:
    from nodes.speaker.evaluate import der

    t = time.perf_counter()
    history, ready = queued_emissions(front, **params)
    took = time.perf_counter() - t
    turns = seen_after(history, float("inf"))
    first = first_sent(history)
    r = der(ref, {"meeting": _segments(turns)}, collar=0.5)
    live = {d: der(ref, {"meeting": _segments(seen_after(history, d))}, collar=0.5).der for d in LIVE_DELAYS}
    flat = next(iter(ref.values()))
    familiar = live_by_familiarity(flat, history, turns)
    kept, own, total, lost_overlapped = persistence(flat, turns)
    by_silence = kept_by_silence(flat, turns)
    live_kept = live_persistence(flat, history)
    d = delays(flat, turns, first)
    d_queued = delays(flat, turns, first_ready(history, ready))
    return {"overlap": overlap_coverage(flat, turns), "der": r.der, "miss": r.missed, "fa": r.false_alarm, "conf": r.confusion, "kept": kept, "own": own, "returns": total,
            "lost_overlapped": lost_overlapped, "delays": d, "delays_queued": d_queued,
            "speakers": len({x.speaker for x in turns}), "gapless": gapless(turns), "seconds": took, "live": live, "familiar": familiar,
            "live_kept": live_kept, "kept_by_silence": by_silence}


def gapless(turns: list[Any]) -> bool:
    """Whether the final labels read spk1..spkK, K the number of labels (no name left over from a speaker merged away)."""
    names = {x.speaker for x in turns if x.t1 > x.t0}
    return names == {f"spk{k + 1}" for k in range(len(names))}


def simulate(folder: Path, seed: int, talkers: int, duration: float, away: Sequence[str] = ()) -> None:
    if (folder / "meeting.wav").exists():
        scene = json.loads((folder / "scenario.json").read_text())
        drawn = scene.get("generator", {}).get("away", [])
        wanted = [[w, float(a), float(b)] for w, a, b in (x.split(":") for x in away)]
        if drawn != wanted:  # a cached meeting drawn with other absences would be scored as if it had these
            raise SystemExit(f"{folder} was simulated with --away {drawn or 'none'}, not {wanted or 'none'}: give another --work")
        if len(scene.get("talkers", [])) != talkers:
            raise SystemExit(f"{folder} was simulated with {len(scene.get('talkers', []))} talkers, not {talkers}: give another --work")
        return
    subprocess.run([sys.executable, "-m", "pipeline.cli.main", "simulate", "--out", str(folder), "--seed", str(seed), "--talkers",
                    str(talkers), "--walking", "2", "--duration", str(duration), *(f"--away={a}" for a in away)],
                   check=True, cwd=ROOT, capture_output=True)


def report_simulated(agg: dict[str, list[dict[str, Any]]], results: dict[str, Any], bounds: list[tuple[int, int, int]],
                     bounds_comp: list[tuple[int, int, int]] | None = None) -> None:
    """Print the simulated meetings' tables and the targets' verdicts, and add the summary to ``results``."""
    print("\nSimulated walking-talker meetings (circular7), DER collar +-0.25 s, overlap scored")
    print(f"{'mode':<20} {'DER':>7} {'miss':>6} {'FA':>6} {'conf':>6} {'x emb':>6} {'kept/returns':>13} {'own':>4} {'delay p50':>9} "
          f"{'p90':>6} {'<=1s':>6} {'gapless':>8} {'diariser s':>11} {'x default':>9}")
    base = None
    summary = {}
    # CPU time of the diariser alone (cached front end), summed over the meetings; the peers run one after another in one process
    default_s = max(sum(r["seconds"] for r in agg["particle+kahc"]), 1e-9)
    for name, rows in agg.items():
        tot = sum(r["der"] for r in rows) / len(rows)
        if base is None:
            base = tot
        d = [x for r in rows for x in r["delays"]]
        kept, own, ret = sum(r["kept"] for r in rows), sum(r["own"] for r in rows), sum(r["returns"] for r in rows)
        lost_ov = sum(r.get("lost_overlapped", 0) for r in rows)
        s = {"der": tot, "ratio": tot / base if base else None, "miss": statistics.mean(r["miss"] for r in rows),
             "fa": statistics.mean(r["fa"] for r in rows), "conf": statistics.mean(r["conf"] for r in rows), "kept": kept, "own": own, "returns": ret,
             "lost_overlapped": lost_ov, "delay_p50": statistics.median(d) if d else None, "delay_p90": sorted(d)[int(0.9 * (len(d) - 1))] if d else None,
             "delay_within_1s": sum(x <= 1.0 for x in d) / len(d) if d else None, "gapless": sum(r["gapless"] for r in rows),
             "seconds": sum(r["seconds"] for r in rows)}
        summary[name] = s
        print(f"{name:<20} {s['der']:>7.1%} {s['miss']:>6.1%} {s['fa']:>6.1%} {s['conf']:>6.1%} {s['ratio']:>6.2f} {kept:>6}/{ret:<6} "
              f"{own:>4} "
              f"{s['delay_p50']:>9.2f} {s['delay_p90']:>6.2f} {s['delay_within_1s']:>6.0%} {s['gapless']:>4}/{len(rows):<3}"
              f"{s['seconds']:>11.1f} {s['seconds'] / default_s:>9.2f}")
    results["summary"] = summary
    print("\nLive view: DER of the labels as a viewer held them d s after each stretch ended (relabels applied as they came)")
    print(f"{'mode':<20}" + "".join(f"{f'd={d:g} s':>9}" for d in LIVE_DELAYS) + f"{'final':>9}")
    for name, rows in agg.items():
        live = {d: statistics.mean(r["live"][d] for r in rows) for d in LIVE_DELAYS}
        summary[name]["live"] = live
        print(f"{name:<20}" + "".join(f"{live[d]:>9.1%}" for d in LIVE_DELAYS) + f"{summary[name]['der']:>9.1%}")
    print("\nLive labels wrong, by how much the true talker had said before (share of their speech; the final labels' mapping):"
          "\nnew = under 10 s of earlier speech (a voice still being learnt), known = 10 s or more")
    print(f"{'mode':<20}" + "".join(f"{f'new {d:g} s':>10}{f'known {d:g} s':>12}" for d in LIVE_DELAYS) + f"{'new share':>10}")
    for name, rows in agg.items():
        sums = {d: {k: [sum(r["familiar"][d][k][i] for r in rows) for i in (0, 1)] for k in ("new", "known")} for d in LIVE_DELAYS}
        summary[name]["live_familiar"] = sums
        cells = [f"{t['new'][1] / max(t['new'][0], 1e-9):>10.1%}{t['known'][1] / max(t['known'][0], 1e-9):>12.1%}" for t in sums.values()]
        last = sums[LIVE_DELAYS[-1]]
        share = last["new"][0] / max(last["new"][0] + last["known"][0], 1e-9)
        print(f"{name:<20}" + "".join(cells) + f"{share:>10.0%}")
    print("\nOverlapped speech (two or more talkers at once): how much of it the final labels name two talkers for, and how"
          "\noften two labels at once are right to be")
    print(f"{'mode':<20}{'reference':>10}{'labelled':>10}{'both':>8}{'recall':>8}{'precision':>10}")
    for name, rows in agg.items():
        o_ref, o_hyp, o_both = (sum(r["overlap"][i] for r in rows) for i in range(3))
        summary[name]["overlap"] = {"reference_s": o_ref, "labelled_s": o_hyp, "both_s": o_both}
        print(f"{name:<20}{o_ref:>9.0f}s{o_hyp:>9.0f}s{o_both:>7.0f}s{o_both / max(o_ref, 1e-9):>8.1%}{o_both / max(o_hyp, 1e-9):>10.1%}")
    print("\nReturns kept as a live viewer saw them (talker back after >= 10 s; their speech so far and their previous turn under one\n"
          "label, both as shown at that moment): 1 s and 2 s after the return began, at its end, and finally")
    print(f"{'mode':<20}" + "".join(f"{(f'+{m:g} s' if m != 'end' else 'end'):>14}" for m in LIVE_RETURN_MARKS) + f"{'final':>14}")
    for name, rows in agg.items():
        seen = {m: [sum(r["live_kept"][m][i] for r in rows) for i in (0, 1)] for m in LIVE_RETURN_MARKS}
        summary[name]["live_kept"] = {str(m): v for m, v in seen.items()}
        cells = "".join(f"{f'{k}/{n}':>9}{k / max(n, 1):>5.0%}" for k, n in seen.values())
        k, n = summary[name]["kept"], summary[name]["returns"]
        print(f"{name:<20}" + cells + f"{f'{k}/{n}':>9}{k / max(n, 1):>5.0%}")
    best = summary["particle+kahc"]
    print("\nlocation-aware = particle+kahc (the default graph for arrays); embedding-only = online clustering (row 1)")
    print(f"target location-aware DER <= 0.8 x embedding-only: {best['ratio']:.2f} -> {'PASS' if best['ratio'] <= 0.8 else 'FAIL'}")
    print(f"target location-aware DER <= 15%: {best['der']:.1%} -> {'PASS' if best['der'] <= 0.15 else 'FAIL'}")
    print(f"target label kept after >= 10 s silence: {best['kept']}/{best['returns']} -> {'PASS' if best['kept'] == best['returns'] else 'FAIL'}"
          f"  (the talker's own label, not one shared with a talker merged into them: {best['own']}/{best['returns']}; of the "
          f"{best['returns'] - best['kept']} not kept, {best['lost_overlapped']} in a turn spoken mostly under another talker)")
    bins = [[sum(r["kept_by_silence"][k][i] for r in agg["particle+kahc"]) for i in (0, 1)] for k in range(len(SILENCE_BINS))]
    best["kept_by_silence"] = {f"{lo:g}": v for lo, v in zip(SILENCE_BINS, bins)}
    edges = [f"{lo:g}-{hi:g} s" for lo, hi in zip(SILENCE_BINS, SILENCE_BINS[1:])] + [f">= {SILENCE_BINS[-1]:g} s"]
    print("  a talker's next turn under their last turn's label, by their silence between: "
          + ", ".join(f"{e} {k}/{n} ({k / max(n, 1):.1%})" for e, (k, n) in zip(edges, bins)))
    vk, vg, vn = (sum(b[i] for b in bounds) for i in range(3))
    results["voice_bound"] = {"kept": vk, "kept_overlap_right": vg, "returns": vn,
                              "per_meeting": dict(zip(results["meetings"], bounds))}
    print(f"  voice alone at best (the true turns, each named by the closest true talker's voice): {vk}/{vn} ({vg}/{vn} counting "
          "overlapped turns right); returns lost there are beyond the encoder, and only location can keep them")
    if bounds_comp:
        ck, cg, cn = (sum(b[i] for b in bounds_comp) for i in range(3))
        results["voice_bound_compensated"] = {"kept": ck, "kept_overlap_right": cg, "returns": cn}
        print(f"  ... through the voice compensation (as the default compares voices): {ck}/{cn} ({cg}/{cn})")
    lk = best["live_kept"]
    print("  live, as shown then: " + ", ".join(f"{lk[str(m)][0]}/{lk[str(m)][1]} {'at its end' if m == 'end' else f'{m:g} s after the return began'}"
                                             for m in LIVE_RETURN_MARKS))
    print(f"target labels within 1 s of speech (median / p90): {best['delay_p50']:.2f} / {best['delay_p90']:.2f} s -> "
          f"{'PASS' if best['delay_p90'] <= 1.0 else ('PASS (median)' if best['delay_p50'] <= 1.0 else 'FAIL')}")
    q = sorted(x for r in agg["particle+kahc"] for x in r.get("delays_queued", []))
    if q:
        best["delay_queued"] = {"p50": statistics.median(q), "p90": q[int(0.9 * (len(q) - 1))], "max": q[-1],
                                "within_1s": sum(x <= 1.0 for x in q) / len(q)}
        dq = best["delay_queued"]
        print(f"  ... with the diariser's own CPU time, packets queued as live input would be (refinement passes included): "
              f"{dq['p50']:.2f} / {dq['p90']:.2f} s, at most {dq['max']:.2f} s, {dq['within_1s']:.1%} within 1 s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--meetings", type=int, default=8, help="simulated meetings to run (0: the AMI excerpts only)")
    ap.add_argument("--first", type=int, default=1, help="seed of the first meeting (meetings are seeds first .. first+meetings-1)")
    ap.add_argument("--duration", type=float, default=90.0)
    ap.add_argument("--talkers", type=int, default=None, help="talkers per meeting (default: 3 and 4 by turns, as the targets "
                                                              "ask); more tells how the diariser scales beyond them")
    ap.add_argument("--work", default="/tmp/meetflow_bench_dz", help="simulations and cached front-end packets")
    ap.add_argument("--away", action="append", default=[], metavar="TALKER:FROM:TO",
                    help="simulate meetings where TALKER is out of the room from FROM to TO s (meetflow simulate --away); "
                    "give a --work of their own, since cached meetings are not simulated again")
    ap.add_argument("--json", help="write every number as JSON")
    ap.add_argument("--no-ami", action="store_true")
    ap.add_argument("--beam", default="superdirective", choices=["superdirective", "delay_and_sum", "none"],
                    help="what the speaker branch hears: a beam steered at the strongest direction (as graphs/meeting.json), or none (the channel mean)")
    ap.add_argument("--modes", default="", metavar="NAME,NAME",
                    help="score only these peers (comma-separated; the embedding-only baseline and the default, particle+kahc, "
                    "always run, as the targets compare them): a quick check of one change, with its peer, instead of every mode")
    args = ap.parse_args()
    chosen = [m.strip() for m in args.modes.split(",") if m.strip()]
    if unknown := [m for m in chosen if m not in MODES]:
        ap.error(f"unknown mode(s) {', '.join(unknown)}; the modes are: {', '.join(MODES)}")
    modes = {n: m for n, m in MODES.items() if not chosen or n in chosen or n in ("embedding", "particle+kahc")}
    if args.meetings < 0:
        ap.error(f"--meetings must be 0 or more, not {args.meetings}")
    most = next(m.le for m in MeetingConfig.model_fields["talkers"].metadata if hasattr(m, "le"))
    if args.talkers is not None and not 1 <= args.talkers <= most:
        ap.error(f"--talkers must be 1 to {most} (meetflow simulate's voices), not {args.talkers}")
    if args.meetings == 0 and (args.no_ami or not AMI.exists()):
        ap.error("nothing to run: --meetings 0 leaves only the AMI excerpts, and "
                 + ("--no-ami skips them" if args.no_ami else f"they are not at {AMI}"))
    from nodes.speaker.evaluate import der, read_rttm, read_uem

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"meetings": {}, "ami": {}}
    agg: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    bounds: list[tuple[int, int, int]] = []
    bounds_comp: list[tuple[int, int, int]] = []  # the same through the bundled voice compensation
    comp = VoiceCompensation.load(BUNDLED)
    for i in range(args.first, args.first + args.meetings):
        folder = work / f"sim{i}"
        talkers = args.talkers or 3 + i % 2
        simulate(folder, i, talkers, args.duration, args.away)
        fronts = {}
        # the channel mean's front only where a mode scores it (pf+kahc-mean): extracting it costs as much again
        for beam in dict.fromkeys([args.beam, *(m["front"] for m in modes.values() if "front" in m)]):
            cache = folder / f"front_{beam}_v3.pkl"  # v2: windows carry pitch; v3: and timbre
            if cache.exists():
                fronts[beam] = pickle.loads(cache.read_bytes())
            else:
                fronts[beam] = extract(folder / "meeting.wav", array=True, beam=beam)
                cache.write_bytes(pickle.dumps(fronts[beam]))
        ref = read_rttm(folder / "reference.rttm")
        row = {}
        for name, mode in modes.items():
            params = {k: v for k, v in mode.items() if k != "front"}
            if params.get("speakers") == KNOWN:
                params["speakers"] = len({spk for *_, spk in next(iter(ref.values()))})
            row[name] = score_mode(fronts[mode.get("front", args.beam)], ref, params)
            agg[name].append(row[name])
        windows = front_windows(fronts[args.beam])
        bounds.append(voice_bound(windows, next(iter(ref.values()))))
        bounds_comp.append(voice_bound([(a, b, comp(v)) for a, b, v in windows], next(iter(ref.values()))))
        results["meetings"][folder.name] = row
        print(f"{folder.name} ({talkers} talkers): " + "  ".join(f"{n} DER {r['der']:.1%}" for n, r in row.items()), flush=True)

    if args.meetings:
        report_simulated(agg, results, bounds, bounds_comp)

    if not args.no_ami and AMI.exists():
        print("\nAMI excerpts (real, mono, 30 s each), DER collar +-0.25 s, overlap scored, within the UEM")
        refs: dict[str, Any] = {}
        uems: dict[str, Any] = {}
        for f in AMI.glob("*.rttm"):
            refs.update(read_rttm(f))
        for f in AMI.glob("*.uem"):
            uems.update(read_uem(f))
        hyp_emb: dict[str, Any] = {}
        hyp_one: dict[str, Any] = {}
        hyp_online: dict[str, Any] = {}
        hyp_known: dict[str, Any] = {}
        # refinement without one of its parts, beside the default (results key embedding_<name>)
        ablations = {"nopitch": {"ahc_pitch_weight": 0.0}, "notimbre": {"ahc_timbre_weight": 0.0}, "nohandover": {"ahc_handover_deg": 0.0},
                     "noreseg": {"ahc_reseg": False}}
        hyp_ablated: dict[str, dict[str, Any]] = {name: {} for name in ablations}
        for wav in sorted(AMI.glob("*.wav")):
            cache = work / f"ami_{wav.stem}_v3.pkl"  # v2: windows carry pitch; v3: and timbre
            if cache.exists():
                front = pickle.loads(cache.read_bytes())
            else:
                front = extract(wav, array=False)
                cache.write_bytes(pickle.dumps(front))
            turns, _ = diarize(front, method="embedding", refine=True)
            hyp_emb[wav.stem] = _segments(turns)
            for name, extra in ablations.items():
                hyp_ablated[name][wav.stem] = _segments(diarize(front, method="embedding", refine=True, **extra)[0])
            online, _ = diarize(front, method="embedding", refine=False)
            hyp_online[wav.stem] = _segments(online)
            hyp_one[wav.stem] = [(x.t0, x.t1, "one") for x in turns if x.t1 > x.t0]
            if wav.stem in refs:
                known, _ = diarize(front, method="embedding", refine=True, speakers=len({spk for *_, spk in refs[wav.stem]}))
                hyp_known[wav.stem] = _segments(known)
        ids = [k for k in hyp_emb if k in refs]
        r_emb = der({k: refs[k] for k in ids}, hyp_emb, collar=0.5, uem=uems, match_single_file=False)
        r_one = der({k: refs[k] for k in ids}, hyp_one, collar=0.5, uem=uems, match_single_file=False)
        r_onl = der({k: refs[k] for k in ids}, hyp_online, collar=0.5, uem=uems, match_single_file=False)
        r_known = der({k: refs[k] for k in ids}, hyp_known, collar=0.5, uem=uems, match_single_file=False)
        r_ablated = {name: der({k: refs[k] for k in ids}, hyp, collar=0.5, uem=uems, match_single_file=False)
                     for name, hyp in hyp_ablated.items()}
        for k in ids:
            print(f"  {k}: embedding-only (online + AHC) {r_emb.per_file[k]:.1%}   online only {r_onl.per_file[k]:.1%}   "
                  f"told the number of talkers {r_known.per_file[k]:.1%}   one-speaker baseline {r_one.per_file[k]:.1%}")
        print(f"  all: online only {r_onl.der:.1%}   told the number of talkers {r_known.der:.1%}   "
              f"embedding-only without pitch in refinement {r_ablated['nopitch'].der:.1%}   "
              f"without timbre {r_ablated['notimbre'].der:.1%}   without resegmentation by timbre {r_ablated['noreseg'].der:.1%}   "
              f"without moving hand-overs back {r_ablated['nohandover'].der:.1%}")
        print(f"  all: embedding-only {r_emb.der:.1%} (miss {r_emb.missed:.1%} FA {r_emb.false_alarm:.1%} conf {r_emb.confusion:.1%})   "
              f"one-speaker baseline {r_one.der:.1%} (conf {r_one.confusion:.1%})")
        bare, short, total = missed_parts({k: refs[k] for k in ids}, hyp_emb, collar=0.5, uem=uems)
        print(f"  embedding-only's missed speech: {bare / total:.1%} with no label at all (speech the VAD or the diariser dropped), "
              f"{short / total:.1%} overlapped speech with fewer labels than talkers (one label per moment)")
        results["ami"] = {"embedding": r_emb.to_json(), "online": r_onl.to_json(), "known": r_known.to_json(),
                          "one_speaker": r_one.to_json(), **{f"embedding_{name}": r.to_json() for name, r in r_ablated.items()},
                          "embedding_missed_s": {"no_label": bare, "overlap_labelled_once": short, "speech": total}}
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
