"""Multi-target tracking of talker azimuths with Kalman filters (filterpy).

Raw directions jump: reflections, overlapping talkers and noise give a wrong peak now and
then, and a talker is heard only while speaking. The tracker keeps one filter per talker over
(azimuth, angular velocity): filterpy's interacting multiple model estimator mixing a seated
model (azimuth nearly constant) and a walking one (constant velocity, brisk accelerations).
Per block it decides which observed direction belongs to which track:

* **Gating and assignment by likelihood.** An observation joins a track only when it is more
  likely under the track's prediction than under "somebody new" (a uniform density of
  ``new_density`` per degree); the assignment is optimal (Hungarian) over all tracks and the
  block's observations. Priors in log-odds break near-ties the way conversations go: the
  talker heard within ``continue_s`` goes on (``switch_penalty`` against a silent track
  resuming), and a known talker beats an unconfirmed new source (``tentative_penalty``).
* **Birth.** An unexplained, clear observation starts a tentative track; ``confirm_hits``
  hits within ``confirm_s`` make it a talker with a new id, unless a silent track sits within
  ``reacquire_deg``: then it takes over that id (the talker moved a little while silent).
* **Silence.** A silent track stays where it was: its velocity relaxes to zero (an
  Ornstein-Uhlenbeck process, predicted exactly in one step however long the silence), its
  uncertainty grows to at most ``max_std_deg``, and it lives for ``max_silence_s`` (default 5
  minutes). One stray observation does not move it: a resumed track is on probation until a
  second observation agrees within ``resume_s``, else it is rolled back.
* **Duplicates.** Two still tracks on the same spot for ``merge_s`` merge, keeping the older id.
* **Wrap-around.** The filters work on an unwrapped azimuth and innovations are taken modulo
  360 degrees; reported azimuths are wrapped into (-180, 180].
"""

from __future__ import annotations

import copy
import functools
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .geometry import round_az, wrap_deg


@dataclass
class TrackerConfig:
    motion: Literal["imm", "cv"] = "imm"  # "imm": seated + walking models mixed; "cv": one constant-velocity model
    meas_std_deg: float = 4.0  # one block's direction error for a clear talker
    accel_std_dps2: float = 40.0  # how quickly a walking talker's angular speed changes
    still_drift_dps: float = 1.0  # a seated talker's azimuth drift (deg per sqrt(s))
    model_switch: float = 0.05  # chance per block of switching between seated and walking
    velocity_tau_s: float = 2.0  # velocity forgotten over this time when unobserved
    max_std_deg: float = 10.0  # cap of a silent track's azimuth uncertainty
    max_speed_dps: float = 90.0
    new_density: float = 1.0 / 360.0  # likelihood of "a new source" per degree
    switch_penalty: float = 2.0  # log-odds of "the talker heard just now goes on" over "a silent one resumes"
    tentative_penalty: float = 1.5  # log-odds of "a known talker" over "the unconfirmed new source"
    continue_s: float = 1.0  # a talker heard this recently is "just now" (spans pauses between sentences)
    min_activity: float = 0.2  # blocks quieter than this are ignored
    min_strength: float = 0.3  # peaks weaker than this are ignored
    birth_activity: float = 0.4
    birth_strength: float = 0.55
    confirm_hits: int = 3
    resume_hits: int = 2  # hits that bring a silent track back (within resume_s)
    resume_s: float = 0.5
    confirm_s: float = 1.2
    reacquire_deg: float = 25.0
    active_hold_s: float = 0.5
    max_silence_s: float = 300.0
    max_tracks: int = 12
    merge_deg: float = 6.0  # two still confirmed tracks closer than this for merge_s become one
    merge_s: float = 1.0


@dataclass
class _Track:
    kf: "_Motion"
    t: float  # time the state refers to
    born: float
    last_seen: float
    hits: list[float] = field(default_factory=list)
    track_id: int | None = None  # None while tentative
    close_since: float | None = None
    # A silent track that hears one observation is on probation until a second one agrees;
    # if none does, it is rolled back (one stray peak must not drag a silent talker away).
    probation: tuple["_Motion", float, int] | None = None  # (state before, last_seen before, hits before)
    probation_t: float = 0.0

    @property
    def azimuth(self) -> float:
        """Wrapped azimuth (the filter itself works on an unwrapped angle)."""
        return float(wrap_deg(self.kf.x[0, 0]))

    @property
    def velocity(self) -> float:
        return float(self.kf.x[1, 0])

    @property
    def std(self) -> float:
        return math.sqrt(max(self.kf.var, 0.0))


@dataclass
class TrackState:
    """A confirmed track as reported after an update."""

    track_id: int
    azimuth_deg: float
    velocity_dps: float
    std_deg: float
    active: bool
    last_seen: float
    observed: bool  # an observation joined it in this very update


@functools.lru_cache(maxsize=None)
def _azimuth_filter_class() -> type:
    """filterpy's KalmanFilter with a closed-form likelihood for the scalar azimuth measurement.

    filterpy evaluates each update's likelihood (which the IMM needs) with scipy's general
    multivariate normal, an eigendecomposition per call: most of the tracker's time. For one
    measurement dimension it is a one-line formula.
    """
    from filterpy.kalman import KalmanFilter

    class AzimuthKalmanFilter(KalmanFilter):
        @property
        def log_likelihood(self) -> float:
            if self._log_likelihood is None:  # type: ignore[has-type]  # set by filterpy's update
                s = float(self.S[0, 0])
                y = float(self.y[0, 0])
                self._log_likelihood = -0.5 * (y * y / s + math.log(2.0 * math.pi * s))
            return self._log_likelihood

    return AzimuthKalmanFilter


class _Motion:
    """A talker's angular motion: (azimuth, angular velocity), filterpy Kalman filters.

    ``imm`` (the default) runs two models side by side in filterpy's interacting multiple
    model estimator: a seated talker (azimuth nearly constant, velocity held at zero) and a
    walking one (constant velocity with brisk accelerations); the mix follows whichever
    explains the observations. One constant-velocity model has to choose between smoothing
    seated talkers and keeping up with walkers; the pair does both. ``cv`` is that single
    model. The azimuth inside is unwrapped (continuous), so mixing and prediction never see
    a jump at +-180 degrees; innovations are taken modulo 360.
    """

    def __init__(self, cfg: TrackerConfig, z: float, r: float) -> None:
        from filterpy.kalman import IMMEstimator

        self.cfg = cfg
        KalmanFilter = _azimuth_filter_class()

        def kf() -> Any:  # an AzimuthKalmanFilter (filterpy ships no types)
            f = KalmanFilter(dim_x=2, dim_z=1)
            f.x = np.array([[z], [0.0]])
            f.H = np.array([[1.0, 0.0]])
            f.R = np.array([[r]])
            return f

        self.cv = kf()
        self.cv.P = np.diag([r, (cfg.max_speed_dps / 3) ** 2])
        self.imm = None
        if cfg.motion == "imm":
            self.still = kf()
            self.still.P = np.diag([r, 1e-6])
            p = cfg.model_switch
            self.imm = IMMEstimator([self.still, self.cv], np.array([0.8, 0.2]), np.array([[1 - p, p], [p, 1 - p]]))

    def _estimate(self):  # noqa: ANN202 - a filterpy filter or the IMM
        """The state to report: the mixture, or the walking model alone once it is the likelier.

        The mixture of a seated and a walking model trails a walker by a degree or two (the
        seated model pulls it back); a walker is reported from the walking model.
        """
        if self.imm is None:
            return self.cv
        return self.cv if self.imm.mu[1] > 0.5 else self.imm

    @property
    def x(self) -> np.ndarray:
        return self._estimate().x

    @property
    def var(self) -> float:
        return float(self._estimate().P[0, 0])

    def predict(self, dt: float, silent: bool) -> None:
        c = self.cfg
        if silent:
            # Unheard, the talker's angular velocity relaxes towards zero (an Ornstein-Uhlenbeck
            # process with time constant tau and a bounded spread), and the position integrates
            # it. Exact for any dt, so a long silence can be predicted in one step.
            tau = c.velocity_tau_s
            decay = math.exp(-dt / tau)
            sv2 = (c.max_speed_dps / 3) ** 2
            self.cv.F = np.array([[1.0, tau * (1.0 - decay)], [0.0, decay]])
            self.cv.Q = np.diag([sv2 * (tau * (1.0 - decay)) ** 2, sv2 * (1.0 - decay * decay)])
        else:
            self.cv.F = np.array([[1.0, dt], [0.0, 1.0]])
            q = c.accel_std_dps2 ** 2
            self.cv.Q = q * np.array([[dt ** 4 / 4, dt ** 3 / 2], [dt ** 3 / 2, dt ** 2]])
        if self.imm is not None:
            self.still.F = np.array([[1.0, 0.0], [0.0, 0.0]])
            self.still.Q = np.diag([c.still_drift_dps ** 2 * dt, 1e-6])
            self.imm.predict()
        else:
            self.cv.predict()
        cap = c.max_std_deg ** 2
        vcap = (c.max_speed_dps / 3) ** 2
        for f in ([self.still, self.cv, self.imm] if self.imm is not None else [self.cv]):
            f.x[1, 0] = float(np.clip(f.x[1, 0], -c.max_speed_dps, c.max_speed_dps))
            for k, limit in ((0, cap), (1, vcap)):  # bounded gates and velocities (correlations scaled alike)
                if f.P[k, k] > limit:
                    s = math.sqrt(limit / f.P[k, k])
                    f.P[k, :] *= s
                    f.P[:, k] *= s

    def update(self, z: float, r: float) -> None:
        x0 = float(self.x[0, 0])
        zz = np.array([[x0 + float(wrap_deg(z - x0))]])  # innovation taken modulo 360
        self.cv.R = np.array([[r]])
        if self.imm is not None:
            self.still.R = np.array([[r]])
            self.imm.update(zz)
        else:
            self.cv.update(zz)


class AzimuthTracker:
    """Tracks talker azimuths from per-block direction estimates; ``update`` once per block."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.cfg = config or TrackerConfig()
        self.tracks: list[_Track] = []
        self.next_id = 1
        self.t = 0.0

    # -- Kalman filter --------------------------------------------------------------------------
    def _new_filter(self, z: float, r: float) -> "_Motion":
        return _Motion(self.cfg, float(wrap_deg(z)), r)

    def _predict(self, tr: _Track, t: float) -> None:
        dt = t - tr.t
        if dt <= 0:
            return
        tr.kf.predict(dt, silent=t - tr.last_seen > self.cfg.continue_s)
        tr.t = t

    def _correct(self, tr: _Track, z: float, r: float, t: float) -> None:
        if tr.track_id is not None and tr.probation is None and t - tr.last_seen > self.cfg.continue_s:
            tr.probation = (copy.deepcopy(tr.kf), tr.last_seen, len(tr.hits))
            tr.probation_t = t
        tr.kf.update(z, r)
        tr.last_seen = t
        tr.hits.append(t)

    def _loglik(self, tr: _Track, z: float, r: float) -> float:
        S = tr.kf.var + r
        y = float(wrap_deg(z - tr.azimuth))
        return -0.5 * (y * y / S + math.log(2 * math.pi * S))

    # -- one block ----------------------------------------------------------------------------
    def update(self, t: float, azimuths: np.ndarray, strengths: np.ndarray, activity: float) -> list[TrackState]:
        """Advance to media time ``t`` with one block's directions; return every confirmed track."""
        from scipy.optimize import linear_sum_assignment

        c = self.cfg
        self.t = t
        obs: list[tuple[float, float, float]] = []  # (azimuth, variance, strength)
        if activity >= c.min_activity:
            for az, s in zip(np.atleast_1d(azimuths), np.atleast_1d(strengths)):
                if s >= c.min_strength:
                    r = c.meas_std_deg ** 2 / max(min(float(s), 1.0) * min(activity * 2.0, 1.0), 0.25)
                    obs.append((float(az), r, float(s)))
        observed: set[int] = set()
        free = list(range(len(obs)))
        log_new = math.log(c.new_density)
        if obs:
            # Filters are advanced only when there is something to explain: through a silence a
            # track is predicted in one step when the next observation comes, which is cheaper
            # than stepping every silent block and lands on the same state.
            for tr in self.tracks:
                self._predict(tr, t)
        if self.tracks and obs:
            # One optimal assignment over all tracks, tentative ones included: a fresh tentative
            # track right on an observation beats a silent track whose wide gate merely reaches it.
            cost = np.full((len(self.tracks), len(obs)), 1e6)
            for i, tr in enumerate(self.tracks):
                if tr.track_id is None:
                    resumes = c.tentative_penalty
                else:
                    resumes = c.switch_penalty if t - tr.last_seen > c.continue_s else 0.0
                for k in range(len(obs)):
                    ll = self._loglik(tr, obs[k][0], obs[k][1])
                    if ll > log_new:
                        cost[i, k] = resumes - ll
            rows, cols = linear_sum_assignment(cost)
            used = set()
            for i, k in zip(rows, cols):
                if cost[i, k] >= 1e6:
                    continue
                self._correct(self.tracks[i], obs[k][0], obs[k][1], t)
                observed.add(id(self.tracks[i]))
                used.add(int(k))
            free = [k for k in free if k not in used]
        # births from what nobody explained
        if activity >= c.birth_activity:
            for k in free:
                az, r, strength = obs[k]
                if strength >= c.birth_strength:
                    tr = _Track(self._new_filter(az, r), t, t, t, [t])
                    self.tracks.append(tr)
                    observed.add(id(tr))
        self._confirm(t)
        self._settle_probation(t)
        self._merge(t)
        self._prune(t)
        out = []
        for tr in sorted((tr for tr in self.tracks if tr.track_id is not None), key=lambda x: x.track_id or 0):
            active = t - tr.last_seen <= c.active_hold_s and tr.probation is None
            out.append(TrackState(int(tr.track_id or 0), round_az(tr.azimuth, 3), tr.velocity, tr.std,
                                  active, tr.last_seen, id(tr) in observed))
        return out

    def _confirm(self, t: float) -> None:
        c = self.cfg
        for tr in list(self.tracks):
            if tr.track_id is not None:
                continue
            recent = [h for h in tr.hits if t - h <= c.confirm_s]
            if len(recent) < c.confirm_hits:
                if t - tr.born > c.confirm_s and t - tr.last_seen > c.confirm_s / 2:
                    self.tracks.remove(tr)  # never confirmed: a reflection or a noise burst
                continue
            # a silent confirmed track near here is probably the same talker, returned
            silent = [o for o in self.tracks if o.track_id is not None and t - o.last_seen > c.active_hold_s
                      and abs(float(wrap_deg(o.azimuth - tr.azimuth))) <= c.reacquire_deg]
            if silent:
                best = min(silent, key=lambda o: abs(float(wrap_deg(o.azimuth - tr.azimuth))))
                tr.track_id = best.track_id
                tr.born = best.born
                self.tracks.remove(best)
            else:
                tr.track_id = self.next_id
                self.next_id += 1

    def _settle_probation(self, t: float) -> None:
        """A resumed track with a second agreeing hit is back; one left alone is rolled back."""
        c = self.cfg
        for tr in self.tracks:
            if tr.probation is None:
                continue
            state, last_seen, n_hits = tr.probation
            if len(tr.hits) - n_hits >= c.resume_hits:
                tr.probation = None
            elif t - tr.probation_t > c.resume_s:
                tr.kf, tr.last_seen = state, last_seen
                del tr.hits[n_hits:]
                tr.t = tr.probation_t  # the state before was predicted to that time; the next block predicts on
                tr.probation = None

    def _merge(self, t: float) -> None:
        """Two confirmed tracks that sit on each other for a while are one talker: keep the older id."""
        c = self.cfg
        conf = [tr for tr in self.tracks if tr.track_id is not None]
        for i, a in enumerate(conf):
            for b in conf[i + 1:]:
                if a not in self.tracks or b not in self.tracks:
                    continue
                # only tracks that both sit still: two talkers walking past each other must not merge
                close = (abs(float(wrap_deg(a.azimuth - b.azimuth))) <= c.merge_deg and abs(a.velocity) < 3.0 and abs(b.velocity) < 3.0)
                if not close:
                    a.close_since = b.close_since = None
                    continue
                a.close_since = a.close_since if a.close_since is not None else t
                if t - a.close_since >= c.merge_s:
                    old, young = (a, b) if (a.track_id or 0) < (b.track_id or 0) else (b, a)
                    if young.last_seen > old.last_seen:  # keep the fresher state under the older id
                        young.track_id, young.born = old.track_id, old.born
                        self.tracks.remove(old)
                    else:
                        self.tracks.remove(young)

    def _prune(self, t: float) -> None:
        c = self.cfg
        self.tracks = [tr for tr in self.tracks if tr.track_id is None or t - tr.last_seen <= c.max_silence_s]
        conf = [tr for tr in self.tracks if tr.track_id is not None]
        if len(conf) > c.max_tracks:
            for tr in sorted(conf, key=lambda x: x.last_seen)[: len(conf) - c.max_tracks]:
                self.tracks.remove(tr)
