"""The diarisation node: embeddings (and directions, from an array) in, speaker turns out."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline import DirectionEstimate, Embedding, In, Node, Out, Packet, SpeakerTurn, StreamInfo

from ..array.mics import OFF_KEY
from .kalman_ahc import AhcConfig, KalmanAhc, match_labels
from .online_clustering import OnlineClusterer, OnlineClusteringConfig
from .overlap import OverlapConfig, OverlapFinder
from .particle_filter import ParticleConfig, ParticleDiarizer
from .units import Unit, circular_mean

_P, _A, _O, _V = ParticleConfig(), AhcConfig(), OnlineClusteringConfig(), OverlapConfig()
#: The vector of a unit that has left the refinement horizon: a long meeting keeps every unit's
#: label and times but not its embedding (1 KiB each, a few per second of speech).
_RELEASED = np.zeros(0, dtype=np.float32)


class DiarizerParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["auto", "particle", "embedding"] = Field("auto", description="particle: joint location tracking and diarisation "
                                                               "(2109.11140; needs directions); embedding: online clustering of embeddings "
                                                               "only; auto: particle when an array gives directions, else embedding.")
    refine: bool = Field(True, description="Kalman-AHC refinement pass (2109.10598): re-clusters the recent past with location "
                         "likelihood ratios and relabels turns (higher revision).")
    refine_every_s: float = Field(15.0, gt=0, description="Media seconds between refinement passes (and one at the end).")
    reseed: bool = Field(True, description="Labels of new speech come from a second online diariser (particle filter, or "
                         "clustering for mono) that restarts from each refinement's labels, so they extend the corrected past "
                         "instead of the online guesses it replaced (the first, never restarted, still gives refinement its "
                         "independent starting runs).")
    refine_horizon_s: float = Field(600.0, gt=0, description="A refinement pass re-clusters this much of the recent past (bounds its cost).")
    # particle filter
    particles: int = Field(_P.particles, ge=1, le=10000, description="Number of particles.")
    max_speakers: int = Field(_P.max_speakers, ge=1, le=64, description="Most speakers told apart.")
    p_stay: float = Field(_P.p_stay, gt=0, lt=1, description="Prior that the talker goes on when speech follows on.")
    p_new: float = Field(_P.p_new, gt=0, lt=1, description="Prior of a new talker (a birth).")
    continue_s: float = Field(_P.continue_s, ge=0, description="Speech within this of the previous stretch follows on (s).")
    kappa: float = Field(_P.kappa, gt=0, description="Sharpness of the embedding likelihood (log-likelihood per unit of cosine).")
    new_cos: float = Field(_P.new_cos, gt=-1, lt=1, description="Cosine that a new speaker's embedding is expected to reach: the birth threshold.")
    meas_std_deg: float = Field(_P.meas_std_deg, gt=0, description="Floor on the direction error of one stretch (deg).")
    walk_std_dps: float = Field(_P.walk_std_dps, ge=0, description="How far a talker's azimuth wanders (deg per square-root second).")
    max_std_deg: float = Field(_P.max_std_deg, gt=0, description="Cap on a silent speaker's location uncertainty (deg).")
    seated_std_dps: float = Field(_P.seated_std_dps, ge=0, description="How far a seated talker's azimuth wanders (deg per "
                                  "square-root second): each speaker is seated or walking, learnt from their track (0: everyone walks).")
    seated_prior: float = Field(_P.seated_prior, ge=0, le=1, description="Probability that a new speaker is seated.")
    motion_switch: float = Field(_P.motion_switch, ge=0, lt=0.5, description="Chance per stretch that a speaker starts or stops walking.")
    resample_ess: float = Field(_P.resample_ess, gt=0, le=1, description="Resample (systematic) when the effective sample size falls below this share.")
    lag: int = Field(_P.lag, ge=0, le=50, description="Stretches of look-ahead before a label is final (fixed-lag smoothing; the label "
                     "is sent at once and revised if the smoothed one differs).")
    seed: int = Field(_P.seed, description="Random seed of the particle filter (results are reproducible).")
    # embedding-only clustering
    threshold: float = Field(_O.threshold, gt=-1, lt=1, description="Embedding-only: cosine to a speaker's mean needed to join them.")
    stay_bonus: float = Field(_O.stay_bonus, ge=0, description="Embedding-only: bonus similarity of the talker just heard.")
    # refinement
    ahc_threshold: float = Field(_A.threshold, gt=-1, lt=1, description="Refinement: embedding cosine at which merging is neutral.")
    ahc_loc_weight: float = Field(_A.loc_weight, ge=0, description="Refinement: weight of the location log-likelihood ratio per hand-over.")
    ahc_start: Literal["runs", "labels"] = Field(_A.start, description="Refinement starts from runs of one label inside a speech segment "
                                                 "(may move any run) or from the online speakers (only merges split speakers).")
    ahc_onsets_follow: bool = Field(_A.onsets_follow, description="Refinement: a segment's first, shorter windows (whose embeddings "
                                    "look alike whoever speaks) take the label of the stretch after them.")
    ahc_split_deg: float = Field(_A.split_deg, ge=0, le=180, description="Refinement: a run of one online label is cut where a "
                                 "well-located stretch lies this far (deg) from where the run's talker, walking on, should be: "
                                 "a talker change the online labels missed (0: never).")
    ahc_away: float = Field(_A.away, ge=0, lt=1, description="Refinement: after a silence of ahc_away_gap_s or more, the "
                            "Kalman scores let a talker have gone anywhere with this probability (people cross rooms; 0: never).")
    ahc_away_gap_s: float = Field(_A.away_gap_s, gt=0, description="Refinement: the silence (s) after which ahc_away applies.")
    ahc_split_vague_k: float = Field(_A.split_vague_k, ge=0, description="Refinement: a run whose directions so far were all "
                                     "vaguer than well-located is cut where a well-located stretch lies further from the last vague "
                                     "one than ahc_split_deg plus this many of its spreads (0: never).")
    ahc_lone_follow: bool = Field(_A.lone_follow, description="Refinement: a lone stretch between two runs of its speech segment "
                                  "takes the label of the neighbour heard within ahc_split_deg of it when the other is further.")
    ahc_change_cos: float = Field(_A.change_cos, ge=-1, le=1, description="Refinement: a run of one online label is also cut where "
                                  "the voice of the second before and the second after agree less than this (cosine of centred "
                                  "embeddings): a talker change the online labels and the direction missed (-1: never).")
    ahc_change_min_s: float = Field(_A.change_min_s, ge=0, description="Refinement: a voice cut must leave at least this much "
                                    "of the run (s) on either side (shorter pieces are too little speech to cluster on their own).")
    ahc_pca_dims: int = Field(_A.pca_dims, ge=0, le=256, description="Refinement: compare embeddings over their first this many "
                              "principal axes within the horizon (drops what was said and the room from the cosine; 0: all).")
    ahc_reassign_passes: int = Field(_A.reassign_passes, ge=0, le=20, description="Refinement: once merging stops, each run moves "
                                     "to the finished cluster it fits best (embedding and location), at most this many passes: "
                                     "undoes early merges that greedy clustering cannot (0: never).")
    ahc_min_speaker_s: float = Field(_A.min_speaker_s, ge=0, description="Refinement: once clustering stops, a speaker with less "
                                     "speech than this (s) in the horizon joins the closest speaker (0: never); only after "
                                     "ahc_settle_s without them, so a new talker is not swallowed as they start.")
    ahc_settle_s: float = Field(_A.settle_s, ge=0, description="Refinement: seconds since a small speaker's last stretch before "
                                "ahc_min_speaker_s applies.")
    # directions
    min_activity: float = Field(0.3, ge=0, le=1, description="Direction blocks quieter than this are ignored (0-1).")
    min_strength: float = Field(0.3, ge=0, le=1, description="Direction peaks weaker than this are ignored (0-1).")
    min_blocks: int = Field(2, ge=1, description="Direction blocks needed within a stretch to locate it.")
    # overlapped speech
    overlap: bool = Field(True, description="From an array: also label a second known talker heard under the main one (a "
                          "direction peak at their place), as an extra turn marked overlap; words keep the main talker.")
    overlap_min_strength: float = Field(_V.min_strength, ge=0, le=1, description="Overlap: weakest direction peak that counts as a talker.")
    overlap_gate_deg: float = Field(_V.gate_deg, gt=0, le=90, description="Overlap: a peak this close to a talker's place is theirs (deg).")
    overlap_min_blocks: int = Field(_V.min_blocks, ge=1, description="Overlap: direction blocks of a stretch that must point at the second talker.")
    overlap_share: float = Field(_V.share, ge=0, le=1, description="Overlap: ... and at least this share of the stretch's blocks.")


class Diarizer(Node):
    """Who speaks when: label each stretch of speech with a speaker, streaming, with stable labels.

    Input: sliding-window embeddings (``speaker.embedding``) and, from an array, the direction
    blocks of ``array.doa``; each window's new stretch is located by the circular mean of the
    strongest directions heard over it. ``particle`` tracks talkers' locations and identities
    jointly (a Rao-Blackwellised particle filter, see particle_filter.py); ``embedding`` is
    online nearest-centroid clustering. Every stretch becomes a ``SpeakerTurn`` as soon as its
    window arrives (its label within about ``first_s`` of speech); labels that fixed-lag
    smoothing or a Kalman-AHC refinement pass change are re-sent with a higher revision, and
    raw labels that refinement merged are mapped onto the merged speaker from then on.
    With ``reseed``, a second online diariser restarted from each pass's labels labels new
    speech instead (the first keeps running, unrestarted, to give refinement independent
    starting runs): between passes the live labels extend the corrected past.
    """

    type_name = "speaker.diarizer"
    Params = DiarizerParams
    inputs = {
        "embeddings": In(Embedding, "Sliding-window speaker embeddings (kind 'window')."),
        "directions": In(DirectionEstimate, "Direction blocks from array.doa (optional: mono input has none).", required=False),
    }
    # Turn packets are stamped with the media time of the input being processed (the turn's own
    # times are in the payload), so the port can promise progress while nobody speaks and a
    # join downstream (speaker.attribute) never waits for the next utterance.
    outputs = {"turns": Out(SpeakerTurn, "One turn per labelled stretch; relabels carry a higher revision.", lag=0.0)}

    params: DiarizerParams

    def __init__(self, node_id: str, params: BaseModel, context: Any) -> None:
        super().__init__(node_id, params, context)
        self.location = False

    def configure(self, inputs: Mapping[str, StreamInfo]) -> Mapping[str, StreamInfo]:
        d = inputs.get("directions")
        self.location = d is not None and d.extra.get(OFF_KEY) is None
        info = inputs.get("embeddings", StreamInfo())
        return {"turns": info}

    def open(self) -> None:
        p = self.params
        self.mode = p.method if p.method != "auto" else ("particle" if self.location else "embedding")
        if self.mode == "particle":
            names = set(ParticleConfig.__dataclass_fields__)
            self.pf = ParticleDiarizer(ParticleConfig(**{k: v for k, v in p.model_dump().items() if k in names}))
        else:
            self.oc = OnlineClusterer(OnlineClusteringConfig(threshold=p.threshold, stay_bonus=p.stay_bonus, continue_s=p.continue_s,
                                                             max_speakers=p.max_speakers))
        self.ahc = KalmanAhc(AhcConfig(threshold=p.ahc_threshold, loc_weight=p.ahc_loc_weight, meas_std_deg=p.meas_std_deg, walk_std_dps=p.walk_std_dps,
                                       max_std_deg=p.max_std_deg, start=p.ahc_start, split_deg=p.ahc_split_deg,
                                       reassign_passes=p.ahc_reassign_passes, pca_dims=p.ahc_pca_dims,
                                       onsets_follow=p.ahc_onsets_follow, lone_follow=p.ahc_lone_follow,
                                       split_vague_k=p.ahc_split_vague_k, away=p.ahc_away, away_gap_s=p.ahc_away_gap_s, min_speaker_s=p.ahc_min_speaker_s, settle_s=p.ahc_settle_s,
                                       change_cos=p.ahc_change_cos, change_min_s=p.ahc_change_min_s))
        self._dirs: deque[tuple[float, float, float]] = deque()  # (t, azimuth, weight) of clear blocks
        self.overlap = OverlapFinder(OverlapConfig(min_strength=p.overlap_min_strength, gate_deg=p.overlap_gate_deg,
                                                   min_blocks=p.overlap_min_blocks, share=p.overlap_share))
        self.second: dict[int, tuple[int, int, int]] = {}  # unit -> (second talker's label as sent (-1: retracted), anchor unit, revision)
        self.overlaps = 0
        self._dir_t = -math.inf  # directions have been seen up to here
        self._waiting: deque[tuple[Packet, Embedding]] = deque()
        self.units: list[Unit] = []
        self.raw: list[int] = []  # online (or smoothed) label per unit
        self.live: ParticleDiarizer | OnlineClusterer | None = None  # restarted from each refinement (reseed); labels new speech once it exists
        self.live_alias: dict[int, int] = {}  # its speaker index -> output label
        self.out: list[int] = []  # label sent per unit
        self.rev: list[int] = []
        self.alias: dict[int, int] = {}  # raw label -> output label (set by refinement)
        self._next_label = 0
        self._first = 0  # units before this have left the refinement horizon (their vectors are released)
        self._last_refine = 0.0
        self._last_t0 = 0.0
        self._now = 0.0
        self.relabels = 0

    # -- input ------------------------------------------------------------------------------------
    def process(self, port: str, packet: Packet) -> None:
        self._now = max(self._now, packet.t0)
        self._process(port, packet)
        self._last_t0 = max(self._last_t0, self._now)
        self.advance("turns", self._last_t0)

    def _process(self, port: str, packet: Packet) -> None:
        if port == "directions":
            est: DirectionEstimate = packet.payload
            self._dir_t = packet.t1
            t = 0.5 * (packet.t0 + packet.t1)
            if len(est.azimuth_deg) and est.activity >= self.params.min_activity and est.strength[0] >= self.params.min_strength:
                self._dirs.append((t, float(est.azimuth_deg[0]), float(est.strength[0] * est.activity)))
            if self.params.overlap and est.activity >= self.params.min_activity:
                self.overlap.add(t, est.azimuth_deg, est.strength)
            self._drain()
            return
        emb: Embedding = packet.payload
        self._waiting.append((packet, emb))
        self._drain()

    def _drain(self) -> None:
        """Label the waiting windows whose stretch the directions have fully passed (at once without directions)."""
        while self._waiting:
            packet, emb = self._waiting[0]
            end = emb.end if emb.end is not None else packet.t1
            if self.location and self._dir_t < end:
                return
            self._waiting.popleft()
            self._label(packet, emb)

    def _locate(self, t0: float, t1: float) -> tuple[float | None, float | None]:
        while self._dirs and self._dirs[0][0] < t0 - 5.0:
            self._dirs.popleft()
        sel = [(a, w) for t, a, w in self._dirs if t0 <= t <= t1]
        if len(sel) < self.params.min_blocks:
            return None, None
        az = np.array([a for a, _ in sel])
        w = np.array([w for _, w in sel])
        mean, spread = circular_mean(az, w)
        return mean, spread / math.sqrt(len(sel)) + 2.0

    # -- labelling ------------------------------------------------------------------------------------
    def _label(self, packet: Packet, emb: Embedding) -> None:
        t1 = emb.end if emb.end is not None else packet.t1
        t0 = emb.new_from if emb.new_from is not None else (emb.start if emb.start is not None else packet.t0)
        start = emb.start if emb.start is not None else t0
        az, std = self._locate(t0, t1) if self.location else (None, None)
        if az is None and self.location:  # a short stretch: locate over the whole window
            az, std = self._locate(start, t1)
        unit = Unit(len(self.units), t0, t1, np.asarray(emb.vector, dtype=np.float32), start, emb.segment_id, az, std)
        self.units.append(unit)
        if self.mode == "particle":
            now, smoothed = self.pf.step(unit)
            self.raw.append(now)
            live = self.live.step(unit) if isinstance(self.live, ParticleDiarizer) else None
            self._emit_label(unit.index, self._output_label(now) if live is None else self._live_label(live[0], now))
            back = unit.index - self.pf.config.lag
            if smoothed is not None and back >= 0:
                self._settle(back, smoothed, shown=live is None)
            if live is not None and live[1] is not None and back >= 0:
                self._show(back, self._live_label(live[1], self.raw[back]))
        else:
            lab = self.oc.step(unit)
            self.raw.append(lab)
            live = self.live.step(unit) if isinstance(self.live, OnlineClusterer) else None
            self._emit_label(unit.index, self._output_label(lab) if live is None else self._live_label(live, lab))
        if self.location and self.params.overlap:
            self._find_second(unit.index)
        if self.params.refine and t1 - self._last_refine >= self.params.refine_every_s:
            self._refine()

    def _output_label(self, raw: int) -> int:
        if raw not in self.alias:  # a new speaker: the next free label
            self.alias[raw] = self._next_label
        lab = self.alias[raw]
        self._next_label = max(self._next_label, lab + 1)
        return lab

    def _live_label(self, j: int, raw: int) -> int:
        """The output label of the restarted filter's speaker ``j``; one born since the restart takes the first filter's label."""
        if j not in self.live_alias:
            self.live_alias[j] = self._output_label(raw)
        return self.live_alias[j]

    def _settle(self, i: int, raw: int, shown: bool = True) -> None:
        """The smoothed raw label of unit ``i``; when it is also what is shown, re-send the label if it changed."""
        if self.raw[i] != raw:
            self.raw[i] = raw
            if shown:
                self._show(i, self._output_label(raw))

    def _show(self, i: int, lab: int) -> None:
        """Unit ``i`` should carry output label ``lab``: re-send it if it differs from what was sent."""
        if lab != self.out[i]:
            self._send(i, lab)
            if i in self.second:
                self._reconcile_second(i)

    def _emit_label(self, i: int, lab: int) -> None:
        self.out.append(lab)
        self.rev.append(0)
        self._send(i, lab, new=True)

    def _send(self, i: int, lab: int, new: bool = False) -> None:
        u = self.units[i]
        if not new:
            self.out[i] = lab
            self.rev[i] += 1
            self.relabels += 1
        self._emit_turn(SpeakerTurn(f"{self.id}-{i:06d}", f"spk{lab + 1}", u.t0, u.t1, u.azimuth_deg, None, self.rev[i]))

    def _emit_turn(self, turn: SpeakerTurn) -> None:
        """Stamp a turn with the media time reached (its own times are in the payload) and send it."""
        t0 = max(self._now, self._last_t0)
        self._last_t0 = t0
        self.emit("turns", Packet(t0, t0, turn))

    # -- overlapped speech --------------------------------------------------------------------------
    def _places(self, i: int, per_label: int = 3, lookback: int = 2000) -> dict[int, tuple[float, int]]:
        """Where each talker was last heard before unit ``i``: (circular mean azimuth of their last
        located stretches, the newest of those stretches: the anchor that names them)."""
        seen: dict[int, list[float]] = {}
        anchor: dict[int, int] = {}
        for j in range(i - 1, max(self._first, i - lookback) - 1, -1):
            u = self.units[j]
            if u.azimuth_deg is None or (u.azimuth_std or 0.0) > self.params.overlap_gate_deg / 2:
                continue  # not located, or heard from two places at once (overlap mixes the mean)
            lab = self.out[j]
            got = seen.setdefault(lab, [])
            if len(got) < per_label:
                got.append(u.azimuth_deg)
                anchor.setdefault(lab, j)
        return {lab: (circular_mean(np.array(az), np.ones(len(az)))[0], anchor[lab]) for lab, az in seen.items()}

    def _find_second(self, i: int) -> None:
        """Label a second talker under unit ``i`` when the array's peaks keep pointing at their place."""
        u = self.units[i]
        if not self.overlap.two_heard(u.t0, u.t1):
            return  # one peak per block: nobody under the main talker (and no scan of the past)
        places = self._places(i)
        main = self.out[i]
        if main not in places and u.azimuth_deg is not None:
            places[main] = (u.azimuth_deg, i)  # a new talker: their place is this stretch's
        found = self.overlap.find(u.t0, u.t1, main, {k: az for k, (az, _) in places.items()})
        if found:
            lab = found[0]
            self.second[i] = (lab, places[lab][1], 0)
            self.overlaps += 1
            self._send_second(i, lab, places[lab][0])

    def _send_second(self, i: int, lab: int | None, az: float | None = None) -> None:
        """(Re)send unit ``i``'s second talker; ``None`` retracts it (an empty turn, higher revision)."""
        u = self.units[i]
        rev = self.second[i][2]
        t1 = u.t1 if lab is not None else u.t0
        self._emit_turn(SpeakerTurn(f"{self.id}-{i:06d}-o", f"spk{(lab if lab is not None else self.out[i]) + 1}", u.t0, t1, az, None,
                                    rev, overlap=True))

    def _reconcile_second(self, i: int) -> None:
        """Unit ``i`` or the stretch that named its second talker was relabelled: follow (or retract)."""
        lab, anchor, rev = self.second[i]
        now = self.out[anchor]
        new = now if now != self.out[i] else None  # the second talker is now the main one: retract
        if new == (lab if lab >= 0 else None):
            return
        self.second[i] = (new if new is not None else -1, anchor, rev + 1)
        self._send_second(i, new, self.units[anchor].azimuth_deg)

    def _refine(self, final: bool = False) -> None:
        """Kalman-AHC over the recent past; relabel the stretches whose label changes.

        ``final``: the input has ended, so no new talker can still be gathering speech and
        small speakers join their closest at once (no ``ahc_settle_s`` wait).
        """
        if not self.units:
            return
        self.ahc.config.settle_s = 0.0 if final else self.params.ahc_settle_s
        self._last_refine = self.units[-1].t1
        horizon = self.units[-1].t1 - self.params.refine_horizon_s
        first = self._first
        while first < len(self.units) - 1 and self.units[first].t1 < horizon:
            self.units[first].vector = _RELEASED  # no pass will look at it again: keep the label, not the evidence
            first += 1
        self._first = first
        units = self.units[first:]
        self.ahc.config.loc_weight = self.params.ahc_loc_weight if self.location else 0.0
        clusters = self.ahc.cluster(units, self.raw[first:])
        old = self.out[first:]
        mapping = match_labels(clusters, old, [u.t1 - u.t0 for u in units], self._next_label)
        new = [mapping[c] for c in clusters]
        for k, (a, b) in enumerate(zip(new, old)):
            if a != b:
                self._send(first + k, a)
            self._next_label = max(self._next_label, a + 1)
        # from now on, a raw label goes to the refined label most of its stretches received
        votes: dict[int, dict[int, float]] = {}
        for u, r, lab in zip(units, self.raw[first:], new):
            votes.setdefault(r, {}).setdefault(lab, 0.0)
            votes[r][lab] += u.t1 - u.t0
        for r, v in votes.items():
            self.alias[r] = max(v.items(), key=lambda kv: kv[1])[0]
        for i in list(self.second):
            if i < first:
                del self.second[i]  # past the horizon: settled
            else:
                self._reconcile_second(i)
        if self.params.reseed and not final:
            self._reseed(units, new)

    def _reseed(self, units: list[Unit], labels: list[int]) -> None:
        """(Re)start the live diariser from a refinement's labels (the max_speakers most recently heard speakers)."""
        most = self.pf.config.max_speakers if self.mode == "particle" else self.oc.config.max_speakers
        last = {lab: k for k, lab in enumerate(labels)}
        keep = sorted(last, key=last.__getitem__)[-most:]
        index = {lab: j for j, lab in enumerate(keep)}
        sel = [(u, index[lab]) for u, lab in zip(units, labels) if lab in index]
        if self.live is None:
            self.live = ParticleDiarizer(self.pf.config) if self.mode == "particle" else OnlineClusterer(self.oc.config)
        self.live.reseed([u for u, _ in sel], [j for _, j in sel])
        self.live_alias = {j: lab for lab, j in index.items()}

    def _pending(self, pf: ParticleDiarizer) -> list[tuple[int, int]]:
        """(unit, smoothed label) for the last stretches a particle filter has not settled yet (the end of the input)."""
        pend = pf.pending()
        first = len(self.units) - len(pend)
        return [(first + k, lab) for k, lab in enumerate(pend) if first + k >= 0]

    def flush(self) -> None:
        self._drain()
        while self._waiting:
            packet, emb = self._waiting.popleft()
            self._label(packet, emb)
        if self.mode == "particle":
            for i, raw in self._pending(self.pf):
                self._settle(i, raw, shown=self.live is None)
            if isinstance(self.live, ParticleDiarizer):
                for i, j in self._pending(self.live):
                    self._show(i, self._live_label(j, self.raw[i]))
        if self.params.refine:
            self._refine(final=True)
        self.context.summary.setdefault("diarization", {}).update({  # type: ignore[union-attr]
            "mode": self.mode, "location": self.location, "stretches": len(self.units), "speakers": len(set(self.out)),
            "relabels": self.relabels, "overlaps": self.overlaps})
