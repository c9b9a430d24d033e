"""The parameters of ``speaker.diarizer``, as a graph's JSON sets them (``meetflow nodes speaker.diarizer``).

Defaults come from the configs of the parts they tune (particle filter, online clustering,
Kalman-AHC, overlap finder, live voice check), so a part's default is stated once, where it is explained.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .handover import HANDOVER_DEG
from .kalman_ahc import AhcConfig
from .online_clustering import OnlineClusteringConfig
from .overlap import OverlapConfig
from .particle_filter import ParticleConfig
from .timbre_reseg import ResegConfig
from .voice_check import VoiceCheckConfig

_P, _A, _O, _V, _C = ParticleConfig(), AhcConfig(), OnlineClusteringConfig(), OverlapConfig(), VoiceCheckConfig()
_R = ResegConfig()


class DiarizerParams(BaseModel):
    """Every setting of ``speaker.diarizer``; each description is what ``meetflow nodes speaker.diarizer`` prints."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["auto", "particle", "embedding"] = Field("auto", description="particle: joint location tracking and diarisation "
                                                               "(2109.11140; needs directions); embedding: online clustering of embeddings "
                                                               "only; auto: particle when an array gives directions, else embedding.")
    voice_compensation: str = Field("auto", min_length=1, description="Map every embedding through a within-talker compensation "
                                    "(WCCN learnt on voices the benchmark never uses, heard through the array's beam at many places; "
                                    "nodes/speaker/compensation.py) so that a walker's voice agrees with itself across the room: auto "
                                    "(the bundled map for the particle filter with an array's directions; embedding-only clustering "
                                    "stays raw), on, off, or the path of a map written by "
                                    "tools/fit_voice_compensation.py (tools/diarization_notes.md, 'Voice compensation').")
    refine: bool = Field(True, description="Kalman-AHC refinement pass (2109.10598): re-clusters the recent past with location "
                         "likelihood ratios and relabels turns (higher revision).")
    refine_every_s: float = Field(5.0, gt=0, description="Media seconds between refinement passes (and one at the end). Sooner "
                                  "passes correct live labels sooner and cost more (tools/diarization_notes.md, 'Refinement "
                                  "every 5 s': 5 s against 15 s).")
    reseed: bool = Field(True, description="Labels of new speech come from a second online diariser (particle filter, or "
                         "clustering for mono) that restarts from each refinement's labels, so they extend the corrected past "
                         "instead of the online guesses it replaced (the first, never restarted, still gives refinement its "
                         "independent starting runs).")
    onsets_follow: bool = Field(True, description="Live labels: a speech segment's first, shorter windows (0.75 and 1.25 s, which say "
                                "little about who speaks) are re-sent with the label of the segment's first full window once it is labelled.")
    refine_horizon_s: float = Field(600.0, gt=0, description="A refinement pass re-clusters this much of the recent past (bounds its cost).")
    remember: bool = Field(True, description="Refinement: every speaker heard before refine_horizon_s also takes part in each pass "
                           "as their voice there (the mean embedding of that speech), so a talker back after a longer silence gets "
                           "their label again, and speakers counts everyone in the meeting.")
    voice_check: bool = Field(True, description="Live labels: each run of one live label within a speech segment is named, over "
                              "its first voice_check_stretches stretches, by the speaker whose mean voice (as labels are shown) its "
                              "embeddings are closest to; the live diariser alone names a run by its first, short window (and, with "
                              "an array, where it was heard) (tools/diarization_notes.md, 'Live labels named by voice').")
    voice_check_stretches: int = Field(_C.stretches, ge=1, description="Voice check: a run's first this many stretches (0.5 s "
                                       "apart) decide its label; it then holds while the live diariser keeps the run's talker.")
    voice_check_bonus: float = Field(_C.bonus, ge=0, description="Voice check: cosine added for the live diariser's own choice.")
    voice_check_birth_quantile: float = Field(_C.birth_quantile, ge=0, le=100, description="Voice check: a run the live diariser "
                                              "took for a new talker joins a known speaker only when its voice is as close to their mean "
                                              "as this percentile of their own stretches is.")
    voice_check_min_stretches: int = Field(_C.min_stretches, ge=1, description="Voice check: a speaker shown on fewer stretches "
                                           "than this is not a candidate.")
    voice_check_timbre: float = Field(_C.timbre_weight, ge=0, description="Voice check: weight of the timbre cosine (each label's "
                                      "MAP-adapted cepstral model against the run's, as refinement compares clusters) added to the "
                                      "embeddings' cosine; 0: the embeddings alone (tools/diarization_notes.md, 'Timbre in the live "
                                      "voice check').")
    live_timbre: float = Field(0.1, ge=0, description="Weight of each stretch's timbre (the log-likelihood ratio of its cepstral "
                               "statistics under each speaker's MAP-adapted model) in the live particle filter, the one restarted from "
                               "each refinement; the first filter, whose runs refinement starts from, does without; 0: not used "
                               "(tools/diarization_notes.md, 'Timbre in the live particle filter').")
    # particle filter
    particles: int = Field(_P.particles, ge=1, le=10000, description="Number of particles.")
    max_speakers: int = Field(_P.max_speakers, ge=1, le=64, description="Most speakers told apart: the live diariser's speaker "
                              "slots, and the most speakers a refinement pass keeps (with remember, counting those heard only before "
                              "its horizon).")
    speakers: int | None = Field(None, ge=1, le=64, description="How many people take part, when known (null: unknown). A "
                                 "refinement pass keeps at most this many speakers (with remember, counting those heard only before its "
                                 "horizon): where its score would stop "
                                 "with more, the speaker with the least speech joins the one closest to them. The live diariser "
                                 "keeps max_speakers slots, so a new voice is not forced onto a known one before refinement has "
                                 "heard enough of it.")
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
    ahc_onset_place: bool = Field(_A.onset_place, description="Refinement: a vague opening stretch does not follow when most of "
                                  "its direction blocks lie further than ahc_split_deg (plus a brisk walk) from the segment's first "
                                  "well-located full stretch (a talker talked over half a second in): it keeps its own label, "
                                  "located by those blocks.")
    ahc_split_deg: float = Field(_A.split_deg, ge=0, le=180, description="Refinement: a run of one online label is cut where a "
                                 "well-located stretch lies this far (deg) from where the run's talker, walking on, should be: "
                                 "a talker change the online labels missed (0: never).")
    ahc_away: float = Field(_A.away, ge=0, lt=1, description="Refinement: after a silence of ahc_away_gap_s or more, the "
                            "Kalman scores let a talker have gone anywhere with this probability (people cross rooms; 0: never).")
    ahc_away_gap_s: float = Field(_A.away_gap_s, gt=0, description="Refinement: the silence (s) after which ahc_away applies.")
    ahc_keep_scores: bool = Field(_A.keep_scores, description="Refinement: keep the location scores of cluster pairs, and the "
                                  "clusters' direction filters, from one pass to the next (the same labels for less CPU; false "
                                  "only to measure what it saves).")
    ahc_seated_std_dps: float = Field(_A.seated_std_dps, ge=0, description="Refinement: a cluster is also scored as one seated "
                                      "talker, whose place drifts this slowly (deg/s), beside one walking talker, and counts as "
                                      "whichever explains its directions better (0: walkers only; nodes/speaker/kalman_ahc.py, "
                                      "'Seated talkers').")
    ahc_seated_cap_deg: float = Field(_A.seated_cap_deg, gt=0, le=180, description="Refinement: a seated talker's predicted spread "
                                      "stops growing at this (deg) however long they are silent.")
    ahc_seated_prior: float = Field(_A.seated_prior, le=0, description="Refinement: log prior (nats) of a cluster being a seated "
                                    "talker against a walking one: seated counts only when it explains the cluster's directions "
                                    "better by more than minus this.")
    ahc_split_vague_k: float = Field(_A.split_vague_k, ge=0, description="Refinement: a run whose directions so far were all "
                                     "vaguer than well-located is cut where a well-located stretch lies further from the last vague "
                                     "one than ahc_split_deg plus this many of its spreads (0: never).")
    ahc_split_pause_s: float = Field(_A.split_pause_s, ge=0, description="Refinement: across a pause this long (s) between two "
                                     "stretches' direction blocks inside one speech segment, a run is cut at ahc_split_pause_deg "
                                     "instead of ahc_split_deg (talkers change at pauses; 0: never).")
    ahc_split_pause_deg: float = Field(_A.split_pause_deg, ge=0, le=180, description="Refinement: the location cut's gate (deg) "
                                       "across a pause of ahc_split_pause_s.")
    ahc_lone_follow: bool = Field(_A.lone_follow, description="Refinement: a lone stretch between two runs of its speech segment "
                                  "takes the label of the neighbour heard within ahc_split_deg of it when the other is further.")
    ahc_straddle_follow: bool = Field(_A.straddle_follow, description="Refinement: a vague stretch where a run ends or starts, between "
                                      "sharp stretches of two labels more than ahc_split_deg apart, takes the label of the side "
                                      "most of its direction blocks were heard at (a change of talker inside a speech segment).")
    ahc_straddle_chain: int = Field(_A.straddle_chain, ge=1, le=4, description="Refinement: ahc_straddle_follow also places each "
                                    "of up to this many vague stretches in a row between the two sides' sharp stretches (1: one only).")
    ahc_change_cos: float = Field(_A.change_cos, ge=-1, le=1, description="Refinement: a run of one online label is also cut where "
                                  "the voice of the second before and the second after agree less than this (cosine of centred "
                                  "embeddings): a talker change the online labels and the direction missed (-1: never).")
    ahc_change_min_s: float = Field(_A.change_min_s, ge=0, description="Refinement: a voice cut must leave at least this much "
                                    "of the run (s) on either side (shorter pieces are too little speech to cluster on their own).")
    ahc_handover_deg: float = Field(HANDOVER_DEG, ge=0, le=180, description="Refinement: where the label changes inside a speech "
                                    "segment between two stretches heard within this many degrees of each other (or without "
                                    "directions, as from one microphone), the voice placed the change, and its 1.5 s window placed "
                                    "it a stretch late: the earlier run's last stretch goes to the later talker (0: never; "
                                    "nodes/speaker/handover.py).")
    ahc_pca_dims: int = Field(_A.pca_dims, ge=0, le=256, description="Refinement: compare embeddings over their first this many "
                              "principal axes within the horizon (drops what was said and the room from the cosine; 0: all).")
    ahc_reassign_passes: int = Field(_A.reassign_passes, ge=0, le=20, description="Refinement: once merging stops, runs move "
                                     "one at a time, the clearest first, to the finished cluster they fit best (embedding and "
                                     "location), at most this many moves per run in all: undoes early merges that greedy "
                                     "clustering cannot (0: never).")
    ahc_reassign_max_gain: float = Field(_A.reassign_max_gain, ge=0, description="Refinement: a cluster takes in by those moves at "
                                         "most this many times the speech merging left it, so that a small piece of a talker "
                                         "cannot draw half of them over (0: no bound).")
    ahc_min_speaker_s: float = Field(_A.min_speaker_s, ge=0, description="Refinement: once clustering stops, a speaker with less "
                                     "speech than this (s) in the horizon joins the closest speaker (0: never); only after "
                                     "ahc_settle_s without them, so a new talker is not swallowed as they start.")
    ahc_settle_s: float = Field(_A.settle_s, ge=0, description="Refinement: seconds since a small speaker's last stretch before "
                                "ahc_min_speaker_s applies.")
    ahc_piece_max_s: float = Field(_A.piece_max_s, ge=0, description="Refinement: once clustering stops, a settled speaker "
                                   "with less speech than this (s) ...")
    ahc_piece_margin: float = Field(_A.piece_margin, ge=0, description="... joins the closest speaker when their affinity is "
                                    "above minus this: it stopped just short of merging, a piece of them (0: never; set 0 "
                                    "with a refine_horizon_s far below the default, where everyone's speech is that short).")
    ahc_profile_min_s: float = Field(_A.profile_min_s, ge=0, description="Refinement (remember): a speaker heard only before the "
                                     "horizon is kept apart from the others only with this much speech (s); less is a piece, "
                                     "clustered like any other (0: every remembered speaker is kept apart). Twice ahc_min_speaker_s: "
                                     "a remembered speaker kept apart is never merged again, so it wants more evidence.")
    ahc_pitch_weight: float = Field(_A.pitch_weight, ge=0, description="Refinement: weight (cosine units per nat, as the "
                                    "location's) of the log-likelihood that one talker gave two clusters' pitches (median fundamental "
                                    "frequency, measured by speaker.embedding), centred to be zero on average for one talker and "
                                    "capped at three standard deviations (0: pitch unused; tools/diarization_notes.md, 'Pitch').")
    ahc_timbre_weight: float = Field(_A.timbre_weight, ge=0, description="Refinement: weight of the cosine between two clusters' "
                                     "timbre supervectors (mel-cepstral GMM means adapted from the meeting's, from the statistics "
                                     "speaker.embedding sends; 0: timbre unused; tools/diarization_notes.md, 'Timbre').")
    ahc_timbre_margin: float = Field(_A.timbre_margin, ge=0, le=1, description="Refinement: a positive timbre cosine (alike "
                                     "timbres) counts only beyond this; a negative one (unlike) counts whole.")
    ahc_timbre_relevance: float = Field(_A.timbre_relevance, gt=0, description="Refinement: the timbre model's MAP relevance "
                                        "factor (frames of 10 ms): a cluster's timbre moves from the meeting's as its speech "
                                        "outweighs this.")
    ahc_reseg: bool = Field(True, description="Refinement: after each pass, decode every speech segment again by timbre "
                            "(each stretch's cepstral statistics against each label's model, a change of label costing "
                            "ahc_reseg_switch), moving stretches only between labels whose voices the encoder hears alike "
                            "(nodes/speaker/timbre_reseg.py). Needs speaker.embedding's timbre.")
    ahc_reseg_switch: float = Field(_R.switch, ge=0, description="Resegmentation: log-likelihood (nats) a change of label inside a "
                                    "speech segment costs.")
    ahc_reseg_stay: float = Field(_R.stay, ge=0, description="Resegmentation: log-likelihood (nats) in favour of the label the "
                                  "clustering gave a stretch.")
    ahc_reseg_alike: float = Field(_R.alike, ge=-1, le=1, description="Resegmentation: a stretch moves only between labels whose "
                                   "voices' GE2E cosine (about the training voices' mean) exceeds this (1: never).")
    ahc_reseg_min_s: float = Field(_R.min_s, ge=0, description="Resegmentation: a label takes stretches only with this much "
                                   "speech (s) behind its timbre model.")
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
    overlap_behind_s: float = Field(2.0, ge=0, le=10, description="Overlap: once a talker is located clearly, look this far back (s) "
                                    "for stretches under another label whose peaks point at them too (a talker who began under "
                                    "the one before; 0: off).")
    overlap_around_s: float = Field(3.0, ge=0, le=10, description="Overlap: after each refinement, look again under recent stretches "
                                    "with every talker's place interpolated between their clear stretches up to this far (s) before "
                                    "and after, under the refined labels (0: off).")

    @model_validator(mode="after")
    def _check(self) -> DiarizerParams:
        # When speech follows on, the particle filter's prior splits 1 between staying, switching to
        # another known talker and a new one: more than 1 for the first and last would leave the
        # switch a negative probability (NaN weights, every particle lost).
        if self.p_stay + self.p_new > 1.0:
            raise ValueError(f"p_stay + p_new must not exceed 1 (the rest is the chance of switching to another known talker), "
                             f"got {self.p_stay:g} + {self.p_new:g}")
        if self.speakers is not None and self.speakers > self.max_speakers:
            raise ValueError(f"speakers ({self.speakers}) is more than max_speakers ({self.max_speakers}), the most speakers told "
                             f"apart: raise the diariser's max_speakers in the graph to at least {self.speakers}")
        if self.speakers is not None and not self.refine:
            raise ValueError(f"speakers ({self.speakers}) acts through refinement, which refine=false turns off; to cap the "
                             f"live diariser's speakers, set its max_speakers")
        if self.refine and self.refine_horizon_s < self.refine_every_s:
            raise ValueError(f"refine_horizon_s ({self.refine_horizon_s:g} s) is shorter than refine_every_s ({self.refine_every_s:g} s): "
                             f"speech between two passes would never be refined")
        return self
