"""The diarisation node: embeddings (and directions, from an array) in, speaker turns out."""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
from pydantic import BaseModel

from pipeline import ConfigError, DirectionEstimate, Embedding, In, Node, Out, Packet, SpeakerTurn, StreamInfo

from ..array.mics import OFF_KEY
from .ahc_runs import opening
from .compensation import BUNDLED as COMPENSATION
from .compensation import CompensationError, VoiceCompensation, resolve
from .diarizer_params import DiarizerParams
from .direction_track import warm_up
from .handover import move_voice_handovers
from .kalman_ahc import AhcConfig, KalmanAhc, Profile, load_matching, match_labels
from .online_clustering import OnlineClusterer, OnlineClusteringConfig
from .overlap import OverlapConfig, OverlapFinder
from .particle_filter import ParticleConfig, ParticleDiarizer
from .second_talkers import SecondTalkers
from .timbre import TimbreUbm, add_stats
from .timbre_reseg import ResegConfig, resegment
from .units import Unit, direction_of_blocks, unit_vector
from .voice_check import RunVoiceCheck, VoiceCheckConfig, Voices, mean_voices

#: The vector of a unit that has left the refinement horizon: a long meeting keeps every unit's
#: label and times but not its embedding (1 KiB each, a few per second of speech).
_RELEASED = np.zeros(0, dtype=np.float32)


class Diarizer(SecondTalkers, Node):
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
        self.compensation: VoiceCompensation | None = None

    def configure(self, inputs: Mapping[str, StreamInfo]) -> Mapping[str, StreamInfo]:
        d = inputs.get("directions")
        self.location = d is not None and d.extra.get(OFF_KEY) is None
        try:
            self.compensation = resolve(self.params.voice_compensation, self.location and self._method() == "particle")
        except CompensationError as exc:
            raise ConfigError(str(exc), "voice_compensation") from None
        info = inputs.get("embeddings", StreamInfo())
        return {"turns": info}

    def _method(self) -> str:
        """The diariser that runs: ``method``, with ``auto`` resolved by whether an array gives directions."""
        return self.params.method if self.params.method != "auto" else ("particle" if self.location else "embedding")

    def open(self) -> None:
        p = self.params
        self.mode = self._method()
        if self.mode == "particle":
            names = set(ParticleConfig.__dataclass_fields__)
            self.pf = ParticleDiarizer(ParticleConfig(**{k: v for k, v in p.model_dump().items() if k in names}))
        else:
            self.oc = OnlineClusterer(OnlineClusteringConfig(threshold=p.threshold, stay_bonus=p.stay_bonus, continue_s=p.continue_s,
                                                             max_speakers=p.max_speakers))
        # Every refinement parameter is the graph's ``ahc_<field>`` (a new one needs only the two declarations);
        # the direction filter's constants are shared with the particle filter, and the speaker cap with the meeting.
        refine = {f: getattr(p, "ahc_" + f) for f in AhcConfig.__dataclass_fields__ if "ahc_" + f in type(p).model_fields}
        self.ahc = KalmanAhc(AhcConfig(**refine, meas_std_deg=p.meas_std_deg, walk_std_dps=p.walk_std_dps, max_std_deg=p.max_std_deg,
                                       max_clusters=p.speakers or p.max_speakers))
        if p.refine and self.location:
            warm_up()  # compile the direction filters before audio flows, not in the first pass (``direction_track``)
        if p.refine:
            load_matching()  # ... and load the label matcher (``kalman_ahc``)
        self.reseg = (ResegConfig(p.ahc_reseg_switch, p.ahc_reseg_stay, p.ahc_reseg_alike, p.ahc_reseg_min_s, p.ahc_timbre_relevance)
                      if p.ahc_reseg else None)
        self._ubm: TimbreUbm | None = None  # the timbre background model, loaded once when first needed (_background)
        self._voice_centre: np.ndarray | None = None  # ... and the training voices' mean embedding, about which voices are compared
        self.voice_check = (RunVoiceCheck(VoiceCheckConfig(p.voice_check_stretches, p.voice_check_bonus, p.voice_check_birth_quantile,
                                                           p.voice_check_min_stretches, p.voice_check_timbre),
                                          self._background() if p.voice_check_timbre else None)
                            if p.voice_check else None)
        self._dirs: deque[tuple[float, float, float]] = deque()  # (t, azimuth, weight) of clear blocks
        self.overlap = OverlapFinder(OverlapConfig(min_strength=p.overlap_min_strength, gate_deg=p.overlap_gate_deg,
                                                   min_blocks=p.overlap_min_blocks, share=p.overlap_share))
        # unit -> (second talker's label as sent (-1: retracted), anchor unit naming them, revision, anchor unit naming the main talker)
        self.second: dict[int, tuple[int, int, int, int]] = {}
        self.overlaps = 0
        self._dir_t = -math.inf  # directions have been seen up to here
        self._waiting: deque[tuple[Packet, Embedding]] = deque()
        self.units: list[Unit] = []
        self.raw: list[int] = []  # online (or smoothed) label per unit
        self.live: ParticleDiarizer | OnlineClusterer | None = None  # restarted from each refinement (reseed); labels new speech once it exists
        # ... built now, not in the first pass: the live filter's timbre models took 0.1-0.5 s to set up
        self._live_ready = self._new_live() if p.refine and p.reseed else None
        self.live_alias: dict[int, int] = {}  # its speaker index -> output label
        self.out: list[int] = []  # label sent per unit
        self.rev: list[int] = []
        self.alias: dict[int, int] = {}  # raw label -> output label (set by refinement)
        self._first = 0  # units before this have left the refinement horizon (their vectors are released)
        self.voices: dict[int, Profile] = {}  # output label -> the voice of its stretches past the horizon
        self._last_refine = 0.0
        self._last_t0 = 0.0
        self._now = 0.0
        self.relabels = 0
        self._full_s = 0.0  # the longest window seen: the embedding node's full window
        self._segment: str | None = None  # the segment being heard, ...
        self._openers: list[int] | None = []  # ... its short opening stretches (None once its first full one came)
        self._leader: dict[int, int] = {}  # short opening stretch -> its segment's first full stretch
        self._followers: dict[int, list[int]] = {}  # first full stretch -> the short stretches before it
        self._until: dict[int, float] = {}  # unit -> where its segment closed, when before the unit's end (its turn stops there)

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

    def _locate(self, t0: float, t1: float) -> tuple[float | None, float | None, np.ndarray | None]:
        """The direction of ``[t0, t1]`` from the clear blocks heard over it: (circular mean, its spread, the blocks'
        (time, azimuth, weight) rows); Nones with fewer than ``min_blocks`` blocks."""
        while self._dirs and self._dirs[0][0] < t0 - 5.0:
            self._dirs.popleft()
        sel = [(t, a, w) for t, a, w in self._dirs if t0 <= t <= t1]
        if len(sel) < self.params.min_blocks:
            return None, None, None
        blocks = np.array(sel, dtype=float)
        mean, spread = direction_of_blocks(blocks[:, 1], blocks[:, 2])
        return mean, spread, blocks

    # -- labelling ------------------------------------------------------------------------------------
    def _label(self, packet: Packet, emb: Embedding) -> None:
        if emb.kind == "end":  # a segment closed before the point its windows had reached: no stretch, only where
            if emb.end is not None:
                self._close(emb.segment_id, emb.end)
            return
        t1 = emb.end if emb.end is not None else packet.t1
        t0 = emb.new_from if emb.new_from is not None else (emb.start if emb.start is not None else packet.t0)
        start = emb.start if emb.start is not None else t0
        az, std, blocks = self._locate(t0, t1) if self.location else (None, None, None)
        if az is None and self.location:  # a short stretch: locate over the whole window
            az, std, blocks = self._locate(start, t1)
        vector = np.asarray(emb.vector, dtype=np.float32) if self.compensation is None else self.compensation(emb.vector)
        unit = Unit(len(self.units), t0, t1, vector, start, emb.segment_id, az, std, emb.pitch, emb.voiced_s, timbre=emb.timbre,
                    blocks=blocks)
        self.units.append(unit)
        if self.mode == "particle":
            now, smoothed = self.pf.step(unit)
            self.raw.append(now)
            live = self.live.step(unit) if isinstance(self.live, ParticleDiarizer) else None
            self._emit_live(unit, self._output_label(now) if live is None else self._live_label(live[0], now))
            back = unit.index - self.pf.config.lag
            if smoothed is not None and back >= 0:
                self._settle(back, smoothed, shown=live is None)
            if live is not None and live[1] is not None and back >= 0:
                self._show(back, self._live_label(live[1], self.raw[back]))
        else:
            lab = self.oc.step(unit)
            self.raw.append(lab)
            online = self.live.step(unit) if isinstance(self.live, OnlineClusterer) else None
            self._emit_live(unit, self._output_label(lab) if online is None else self._live_label(online, lab))
        self._onsets_follow(unit)
        if self.location and self.params.overlap:
            self._find_second(unit.index)
            if self.params.overlap_behind_s > 0:
                self._find_second_behind(unit.index)
        if self.params.refine and t1 - self._last_refine >= self.params.refine_every_s:
            self._refine()

    def _output_label(self, raw: int) -> int:
        if raw not in self.alias:  # a new speaker: the lowest free label
            self.alias[raw] = self._free_label()
        return self.alias[raw]

    def _labels_in_use(self) -> set[int]:
        """Every output label a stretch or second talker carries, or a live speaker will turn into.

        Only these are taken: a label nobody carries any more (a speaker guessed live and merged
        away by refinement, every stretch of theirs re-sent) is free for the next new speaker, so
        a three-person meeting reads spk1-spk3, not the running count of every guess. On the
        first 12 bench meetings 10 had gaps before (spk3, spk5, spk6 for three talkers), 5 now;
        the rest are names still held by a live speaker slot that could speak again (bench
        column ``gapless``: 18 of 36 and 13 of 32 meetings read spk1..spkK).
        """
        used = set(self.out) | set(self.alias.values()) | set(self.live_alias.values())
        used.update(lab for lab, *_ in self.second.values() if lab >= 0)
        return used

    def _free_label(self) -> int:
        used = self._labels_in_use()
        return next(k for k in itertools.count() if k not in used)

    def _emit_live(self, unit: Unit, lab: int) -> None:
        """Send a new stretch under the live diariser's label ``lab``, or the one its run's voice names (voice check)."""
        resend: list[int] = []
        if self.voice_check is not None:
            lab, resend = self.voice_check.label(unit, lab, lambda: self._voices_shown(unit.index))
        self._emit_label(unit.index, lab)
        for j in resend:
            self._show(j, lab, live=False)

    def _voices_shown(self, i: int) -> Voices:
        """Each label's voice as shown before stretch ``i``: its stretches in the refinement horizon and, past
        it, its remembered voice (for the live voice check)."""
        first, q = self._first, self.params.voice_check_birth_quantile
        past = {lab: (unit_vector(v.vec) * v.count, v.count) for lab, v in self.voices.items()}
        past_timbre = {lab: v.timbre for lab, v in self.voices.items()}
        if i <= first:
            return mean_voices(np.zeros((0, 1)), [], past, q, extra_timbre=past_timbre)
        return mean_voices(np.stack([u.vector for u in self.units[first:i]]), self.out[first:i], past, q,
                           [u.timbre for u in self.units[first:i]], past_timbre)

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

    def _show(self, i: int, lab: int, live: bool = True) -> None:
        """Unit ``i`` should carry output label ``lab``: re-send it if it differs from what was sent.

        ``live``: ``lab`` is the live diariser's label (its smoothing), which the voice check may name
        otherwise; else it is a label already decided for display. A segment's short opening stretch
        shows its segment's first full stretch's label instead (once that has come), and that full
        stretch takes its openers along when it changes.
        """
        if live and self.voice_check is not None:
            lab = self.voice_check.shown(i, lab)
        if i in self._leader:
            lab = self.out[self._leader[i]]
        if lab != self.out[i]:
            self._send(i, lab)
            if i in self.second:
                self._reconcile_second(i)
        for j in self._followers.get(i, ()):
            if self.out[j] != self.out[i]:
                self._show(j, self.out[i], live=False)

    def _onsets_follow(self, u: Unit) -> None:
        """Let a segment's short opening stretches show the label of its first full stretch.

        A segment's first windows hold 0.75 and 1.25 s of speech and say little about who
        speaks (refinement lets them follow the rest of their segment for the same reason:
        ``ahc_onsets_follow``); the first full window, 0.75 s later, says much more, and a
        segment rarely changes talker within its first second. Live, the opening stretches
        keep their own label for that 0.75 s and are then re-sent with the full window's.
        Measured offline on the bench's emissions before building it: live DER 2 s after each
        stretch 23.6 -> 22.4% (meetings 1-12) and 21.8 -> 19.6% (37-68); built, beside the peer
        without it (bench mode ``pf+kahc-noonset``), 5 s after 18.7 -> 17.5% (1-36) and 17.5 ->
        16.9% (37-68). At 0 s nothing changes (the full window has not come yet), nor do the
        final labels (refinement lets onsets follow as well).
        """
        if not self.params.onsets_follow or u.segment is None:
            return
        if u.segment != self._segment:  # windows come in time order, one segment after another
            self._segment, self._openers = u.segment, []
        self._full_s = max(self._full_s, u.window_s)
        if self._openers is None:
            return  # the segment's first full window has come: the rest are its own
        if opening(u, self._full_s):
            self._openers.append(u.index)
            return
        openers, self._openers = self._openers, None
        if openers:
            self._followers[u.index] = openers
            for j in openers:
                self._leader[j] = u.index
            self._show(u.index, self.out[u.index], live=False)

    def _close(self, segment: str | None, end: float) -> None:
        """Segment ``segment`` closed at ``end``, before the point its windows had reached: its turns stop there.

        Windows are sent while a segment is open, every 0.5 s of audio, and the VAD closes it
        only once 0.5 s of silence has passed (``min_silence_ms``), keeping 0.2 s of it
        (``pad_ms``); windows sent meanwhile labelled silence the VAD itself left out, so
        turns ran on past the segment (up to 0.3 s; 0.8 points of false alarm on the
        simulated meetings, 2.0 -> 1.2% on meetings 1-36). Turns reaching past
        ``end`` are re-sent one revision up, ending there (one wholly after it: empty,
        retracted); the stretches' evidence, and so every label, stays as it was. The pad
        stays: on the AMI excerpts it is speech (cutting turns at the VAD's speech end
        instead raised their miss from 34% to 37%).
        """
        for i in range(len(self.units) - 1, self._first - 1, -1):
            u = self.units[i]
            if u.segment != segment or u.t1 <= end:
                break
            if self._until.get(i, math.inf) <= end:
                continue
            self._until[i] = end
            self.rev[i] += 1
            self._send(i, self.out[i], new=True)
            if i in self.second and self.second[i][0] >= 0:
                self._revise_second(i, self.second[i][0])

    def _end(self, i: int) -> float:
        """Where unit ``i``'s turn ends: its stretch's end, or where its segment closed before that."""
        u = self.units[i]
        return max(u.t0, min(u.t1, self._until.get(i, u.t1)))

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
        self._emit_turn(SpeakerTurn(f"{self.id}-{i:06d}", f"spk{lab + 1}", u.t0, self._end(i), u.azimuth_deg, None, self.rev[i]))

    def _emit_turn(self, turn: SpeakerTurn) -> None:
        """Stamp a turn with the media time reached (its own times are in the payload) and send it."""
        t0 = max(self._now, self._last_t0)
        self._last_t0 = t0
        self.emit("turns", Packet(t0, t0, turn))

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
            self._remember(self.units[first], self.out[first])
            self.units[first].vector = _RELEASED  # no pass will look at it again: keep the label (and the voice), not the evidence
            self.units[first].timbre = None  # ... nor its timbre statistics (5 KiB a stretch, five times its embedding)
            self.units[first].blocks = None  # ... nor its direction blocks
            first += 1
        self._first = first
        for i in [i for i in self._leader if i < first]:
            del self._leader[i]
        for i in [i for i in self._followers if i < first]:
            del self._followers[i]
        for i in [i for i in self._until if i < first]:
            del self._until[i]
        units = self.units[first:]
        self.ahc.config.loc_weight = self.params.ahc_loc_weight if self.location else 0.0
        old = self.out[first:]
        # Speakers heard before the horizon take part as their voice there, and their settled speech
        # counts for their label in the match: a label stays with the voice it had.
        past = sorted(self.voices) if self.params.remember else []
        clusters = self.ahc.cluster(units, self.raw[first:], [self.voices[lab] for lab in past])
        # A hand-over the voice placed is shown a stretch earlier (handover.py), but the stretch moved is
        # still mostly the previous talker's voice: the live diariser restarted from this pass, and the
        # raw labels' votes, learn from the labels as the voices were heard. Restarted from the moved
        # labels, the 11-minute sim901's live DER at 0 s went 5.9% -> 7.0%; from these, 5.9% (final
        # labels the same on every meeting of 1-292).
        heard = clusters[:len(units)]
        clusters[:len(units)] = move_voice_handovers(units, heard, self.params.ahc_handover_deg, self.ahc.config.split_std_deg)
        clusters[:len(units)] = self._resegment(units, clusters, past)
        mapping = match_labels(clusters, old + past, [u.t1 - u.t0 for u in units] + [self.voices[lab].speech for lab in past],
                               self._labels_in_use())
        new = [mapping[c] for c in clusters[:len(units)]]
        by_voice = [mapping.get(c, a) for c, a in zip(heard, new)]  # a cluster timbre emptied is heard as where its stretches went
        for k, (a, b) in enumerate(zip(new, old)):
            if a != b:
                self._send(first + k, a)
        # from now on, a raw label goes to the refined label most of its stretches received
        votes: dict[int, dict[int, float]] = {}
        for u, r, lab in zip(units, self.raw[first:], by_voice):
            votes.setdefault(r, {}).setdefault(lab, 0.0)
            votes[r][lab] += u.t1 - u.t0
        for r, v in votes.items():
            self.alias[r] = max(v.items(), key=lambda kv: kv[1])[0]
        for i in list(self.second):
            if i < first:
                del self.second[i]  # past the horizon: settled
            else:
                self._reconcile_second(i)
        if self.location and self.params.overlap:
            self._find_second_around(first)
        if self.params.reseed and not final:
            self._reseed(units, by_voice)
        if self.voice_check is not None:
            self.voice_check.reset()

    def _resegment(self, units: list[Unit], clusters: list[int], past: list[int]) -> list[int]:
        """The pass's labels of ``units`` decoded again by timbre between alike voices (``timbre_reseg.py``); the
        remembered voices ``past`` (whose cluster ids follow the units') lend their labels' models their evidence.
        Unchanged where a stretch carries no timbre (speaker.embedding's ``timbre`` off)."""
        labels = clusters[:len(units)]
        if self.reseg is None or not units or any(u.timbre is None for u in units):
            return labels
        if self._voice_centre is None:
            self._voice_centre = (self.compensation or VoiceCompensation.load(COMPENSATION)).mu
        extra_stats: dict[int, np.ndarray] = {}
        extra_voices: dict[int, tuple[np.ndarray, float]] = {}
        for k, lab in enumerate(past):
            cid, voice = clusters[len(units) + k], self.voices[lab]
            if voice.timbre is not None:
                extra_stats[cid] = add_stats(extra_stats.get(cid), voice.timbre)  # type: ignore[assignment]
            mean, count = voice.vec / max(voice.weight, 1e-12), float(voice.count)
            if cid in extra_voices:  # two remembered voices in one cluster: their stretches pooled
                m0, c0 = extra_voices[cid]
                mean, count = (c0 * m0 + count * mean) / (c0 + count), c0 + count
            extra_voices[cid] = (mean, count)
        return resegment([u.segment for u in units], np.stack([u.timbre for u in units]),  # type: ignore[misc]
                         np.stack([u.vector for u in units]).astype(np.float64), labels, extra_stats, extra_voices,
                         self._background(), self._voice_centre, self.reseg)

    def _background(self) -> TimbreUbm:
        """The timbre background model the voice check, the live filter and resegmentation share (read once)."""
        if self._ubm is None:
            self._ubm = TimbreUbm.load()
        return self._ubm

    def _remember(self, u: Unit, lab: int) -> None:
        """Add a stretch leaving the refinement horizon to its speaker's voice.

        Past the horizon a talker's stretches are settled and their vectors released; without a
        trace of them, a talker silent for longer than the horizon who speaks again could only be
        recognised by the live diariser's guess, and each pass would keep that guess (a new label,
        or someone else's, when it was wrong). The mean embedding of their settled speech lets
        refinement link them back. Measured with the bench's ``pf+kahc-forget`` peer on meetings
        where talkers leave for 10 minutes (``--away``): "Long meetings" in tools/diarization_notes.md.
        """
        w = max(u.window_s, 0.1)
        v = self.voices.get(lab)
        pw = u.pitch_weight
        if v is None:
            self.voices[lab] = v = Profile(w * u.vector.astype(np.float64), w, u.t1 - u.t0, 1)
        else:
            v.vec += w * u.vector
            v.weight += w
            v.speech += u.t1 - u.t0
            v.count += 1
        if pw and u.pitch is not None:  # a pitch weight implies a pitch
            v.pitch_sum += pw * u.pitch
            v.pitch_w += pw
        v.timbre = add_stats(v.timbre, u.timbre)

    def _reseed(self, units: list[Unit], labels: list[int]) -> None:
        """(Re)start the live diariser from a refinement's labels (the max_speakers most recently heard speakers)."""
        most = self.pf.config.max_speakers if self.mode == "particle" else self.oc.config.max_speakers
        last = {lab: k for k, lab in enumerate(labels)}
        keep = sorted(last, key=last.__getitem__)[-most:]
        index = {lab: j for j, lab in enumerate(keep)}
        sel = [(u, index[lab]) for u, lab in zip(units, labels) if lab in index]
        if self.live is None:
            assert self._live_ready is not None  # built when the node opened: passes that reseed it run only then
            self.live = self._live_ready
        self.live.reseed([u for u, _ in sel], [j for _, j in sel])
        self.live_alias = {j: lab for lab, j in index.items()}

    def _new_live(self) -> ParticleDiarizer | OnlineClusterer:
        """The live diariser that each refinement restarts (``_reseed``), not yet started."""
        if self.mode == "particle":  # the live filter also hears timbre (the first, refinement's starting runs, does not)
            ubm = self._background() if self.params.live_timbre else None
            return ParticleDiarizer(replace(self.pf.config, timbre_weight=self.params.live_timbre), ubm=ubm)
        return OnlineClusterer(self.oc.config)

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
