"""The tracking node: per-block directions in, talker tracks with stable ids out."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field

from pipeline import DirectionEstimate, In, Node, Out, Packet, StreamInfo, Track, Tracks

from .mics import OFF_KEY
from .tracking import AzimuthTracker, TrackerConfig


_D = TrackerConfig()  # one source of defaults for the library and the node


class TrackerParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    motion: Literal["imm", "cv"] = Field(_D.motion, description="imm: seated and walking motion models mixed (filterpy IMM); cv: one "
                                         "constant-velocity model (follows walkers, smooths seated talkers less).")
    meas_std_deg: float = Field(_D.meas_std_deg, gt=0, description="Direction error of one block for a clear talker (deg).")
    accel_std_dps2: float = Field(_D.accel_std_dps2, ge=0, description="How quickly a walking talker's angular speed may change (deg/s^2); "
                                  "higher follows walkers faster, lower smooths more.")
    still_drift_dps: float = Field(_D.still_drift_dps, gt=0, description="A seated talker's azimuth drift (deg per square-root second).")
    model_switch: float = Field(_D.model_switch, gt=0, lt=0.5, description="Chance per block of switching between the seated and the walking model.")
    velocity_tau_s: float = Field(_D.velocity_tau_s, gt=0, description="A silent track's angular speed decays over this time (s).")
    max_std_deg: float = Field(_D.max_std_deg, gt=0, description="Cap on a silent track's uncertainty (deg): bounds how far away a returning talker is still recognised.")
    max_speed_dps: float = Field(_D.max_speed_dps, gt=0, description="Fastest plausible angular speed (deg/s).")
    new_density: float = Field(_D.new_density, gt=0, description="Likelihood per degree of a new talker: an observation joins a track "
                               "only when the track explains it better.")
    switch_penalty: float = Field(_D.switch_penalty, ge=0, description="Log-odds that the talker heard within continue_s goes on, rather than a silent one resuming.")
    tentative_penalty: float = Field(_D.tentative_penalty, ge=0, description="Log-odds of a known talker over an unconfirmed new source.")
    continue_s: float = Field(_D.continue_s, gt=0, description="A talker heard this recently counts as still talking (pauses between sentences).")
    min_activity: float = Field(_D.min_activity, ge=0, le=1, description="Ignore blocks whose activity (level above background, 0-1) is lower.")
    min_strength: float = Field(_D.min_strength, ge=0, le=1, description="Ignore direction peaks weaker than this (0-1).")
    birth_activity: float = Field(_D.birth_activity, ge=0, le=1, description="Activity needed to start a new track.")
    birth_strength: float = Field(_D.birth_strength, ge=0, le=1, description="Peak strength needed to start a new track.")
    confirm_hits: int = Field(_D.confirm_hits, ge=1, description="Observations within confirm_s that make a tentative track a talker.")
    confirm_s: float = Field(_D.confirm_s, gt=0, description="Window for confirm_hits (s).")
    resume_hits: int = Field(_D.resume_hits, ge=1, description="Observations within resume_s that bring a silent track back (else it is rolled back).")
    resume_s: float = Field(_D.resume_s, gt=0, description="See resume_hits (s).")
    reacquire_deg: float = Field(_D.reacquire_deg, ge=0, description="A new track this close to a silent one takes over its id (the talker moved while silent).")
    active_hold_s: float = Field(_D.active_hold_s, ge=0, description="A track counts as active (audible) this long after its last observation (s).")
    max_silence_s: float = Field(_D.max_silence_s, gt=0, description="A track silent this long is dropped (s).")
    max_tracks: int = Field(_D.max_tracks, ge=1, description="Most tracks kept; the longest silent goes first.")
    merge_deg: float = Field(_D.merge_deg, ge=0, description="Two still tracks closer than this for merge_s merge, keeping the older id.")
    merge_s: float = Field(_D.merge_s, ge=0, description="See merge_deg (s).")

    def config(self) -> TrackerConfig:
        names = {f.name for f in fields(TrackerConfig)}
        return TrackerConfig(**{k: v for k, v in self.model_dump().items() if k in names})


class Tracker(Node):
    """Multi-talker Kalman tracker over azimuth (filterpy): stable track ids through silences.

    One constant-velocity Kalman filter per talker; observations are assigned to tracks by
    likelihood (Hungarian), unexplained clear ones start tentative tracks that become talkers
    after a few hits; silent tracks hold their place with growing (capped) uncertainty and
    live for ``max_silence_s``; azimuths wrap at +-180 degrees. Emits, per direction block,
    every confirmed track (``active`` = heard within ``active_hold_s``). See tracking.py.
    """

    type_name = "array.tracker"
    Params = TrackerParams
    inputs = {"directions": In(DirectionEstimate, "Per-block directions (array.doa).")}
    outputs = {"tracks": Out(Tracks, "Every confirmed track after each block.", lag=0.0)}

    params: TrackerParams

    def __init__(self, node_id: str, params: BaseModel, context: Any) -> None:
        super().__init__(node_id, params, context)
        self.off: str | None = None
        self.tracker: AzimuthTracker | None = None

    def configure(self, inputs: Mapping[str, StreamInfo]) -> Mapping[str, StreamInfo]:
        info = inputs.get("directions", StreamInfo())
        self.off = info.extra.get(OFF_KEY)
        return {"tracks": info}

    def open(self) -> None:
        import filterpy.kalman  # noqa: F401  (imported here so the first block is not delayed)

        self.tracker = AzimuthTracker(self.params.config())

    def process(self, port: str, packet: Packet) -> None:
        if self.off is not None:
            self.advance("tracks", packet.t1)
            return
        est: DirectionEstimate = packet.payload
        assert self.tracker is not None
        t = 0.5 * (packet.t0 + packet.t1)
        states = self.tracker.update(t, est.azimuth_deg, est.strength, est.activity)
        tracks = [Track(s.track_id, s.azimuth_deg, s.velocity_dps, s.std_deg, s.active, s.last_seen) for s in states]
        self.emit("tracks", Packet(packet.t0, packet.t1, Tracks(tracks)))
