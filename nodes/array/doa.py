"""Direction of arrival from blocks of STFT frames, with pyroomacoustics' algorithms.

``DirectionFinder`` wraps pyroomacoustics' DOA classes (NormMUSIC by default; MUSIC,
SRP-PHAT and TOPS selectable). pyroomacoustics recomputes the steering vectors of every
frequency and direction on each call and evaluates MUSIC and SRP with many tiny matrix
products; that costs 10-25 ms per block on this kind of machine, too much for a front end
that should take a few per cent of one core. ``backend="vectorised"`` therefore subclasses
pyroomacoustics' NormMUSIC / MUSIC / SRP and replaces only their ``_process`` step by an
algebraically identical one on precomputed steering vectors:

* MUSIC: with unit-modulus steering vectors ``a`` (``a^H a = M``) and signal subspace ``Es``,
  ``a^H (I - Es Es^H) a = M - |Es^H a|^2``: one matrix product per frequency instead of a
  projection per direction;
* SRP-PHAT: ``sum_{i<j} Re(C_ij a_i^* a_j)`` over phase-transformed cross-spectra equals
  ``(sum_s |a^H x_s|^2 - M S) / 2``, again one product per frequency.

Everything else (grids, frequency-bin selection, ``locate_sources``) is pyroomacoustics'
own, and a test checks that both back ends give the same pseudo-spectrum.

MUSIC assumes spatially white noise. A room's reverberant tail and background noise are
closer to a diffuse field, which a planar array hears evenly from all azimuths, but which a
*linear* array, measuring the cone angle to its axis, hears mostly from broadside (the
directions of a sphere crowd around the plane normal to the axis). Unwhitened, that pulls a
linear array's estimates towards 90 deg: 20-35 deg for talkers 20-40 deg off the axis in a
simulated room with RT60 0.3 s, none in a free field. ``whiten="diffuse"`` (the default for
linear arrays) therefore runs MUSIC on channels whitened against the diffuse-field coherence
(diagonal loading 0.03, as the superdirective beam): the covariance becomes
``W C W`` with ``W = (Gamma + 0.03 I)^-1/2`` and each steering vector ``W a``.

pyroomacoustics' ``locate_sources`` wants X as (mics, freqs, frames); our STFT gives
(frames, freqs, mics): the transpose happens here, once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Sequence

import numpy as np

from .geometry import SPEED_OF_SOUND, ArrayGeometry, diffuse_coherence, wrap_deg

Algorithm = Literal["normmusic", "music", "srp", "tops"]
Backend = Literal["vectorised", "pyroomacoustics"]
Whiten = Literal["auto", "diffuse", "none"]

#: Diagonal loading of the diffuse-field coherence when whitening (as the superdirective beam's).
WHITEN_LOADING = 0.03

#: Our names -> pyroomacoustics' names (``pyroomacoustics.doa.algorithms``).
PRA_NAMES = {"normmusic": "NormMUSIC", "music": "MUSIC", "srp": "SRP", "tops": "TOPS"}


@dataclass
class DoaResult:
    """Directions found in one block, strongest first, and the pseudo-spectrum they came from."""

    azimuth_deg: np.ndarray
    strength: np.ndarray
    spectrum: np.ndarray
    peakiness: float


def _vectorised_classes() -> dict[str, type]:
    """pyroomacoustics DOA subclasses with fast, equivalent ``_process`` steps (built lazily)."""
    import pyroomacoustics as pra

    class _Steering:
        """Steering vectors of the selected frequency bins, computed once per bin set."""

        _key: tuple[int, int, int] | None = None
        _Ac: np.ndarray | None = None
        # set by the pyroomacoustics DOA class this is mixed into (declared here for the type checker)
        freq_bins: np.ndarray
        mode_vec: Any
        fs: float
        nfft: int

        def steering_conj(self) -> np.ndarray:
            """conj(a) for every selected bin and grid direction, shape (F, G, M), complex64."""
            fb = self.freq_bins
            key = (len(fb), int(fb[0]), int(fb[-1])) if len(fb) else (0, 0, 0)
            if key != self._key:
                mv = self.mode_vec
                omega = mv.omega[np.asarray(fb, dtype=np.int64)]  # (F,)
                tau = mv.tau[0].T  # (G, M)
                self._Ac = np.exp(-1j * omega[:, None, None] * tau[None, :, :]).astype(np.complex64)
                self._key = key
            assert self._Ac is not None
            return self._Ac

    class FastMUSIC(_Steering, pra.doa.MUSIC):
        #: set by DirectionFinder: (mic positions (M, 3), diagonal loading) to whiten against a diffuse field, or None
        whiten: tuple[np.ndarray, float] | None = None
        _wkey: tuple[int, int, int] | None = None
        _W: np.ndarray
        _norm: np.ndarray

        def _whitening(self) -> tuple[np.ndarray, np.ndarray]:
            """W = (Gamma + loading I)^-1/2 per selected bin (F, M, M), and |W a|^2 per bin and direction (F, G)."""
            fb = self.freq_bins
            key = (len(fb), int(fb[0]), int(fb[-1])) if len(fb) else (0, 0, 0)
            if key != self._wkey:
                assert self.whiten is not None
                xyz, loading = self.whiten
                freqs = np.asarray(fb, dtype=np.float64) * self.fs / self.nfft
                G = diffuse_coherence(xyz, freqs) + loading * np.eye(len(xyz))[None]
                w, v = np.linalg.eigh(G)
                self._W = ((v * w[:, None, :] ** -0.5) @ np.conj(v.transpose(0, 2, 1))).astype(np.complex64)
                Ac = self.steering_conj()
                Wa = Ac @ self._W  # (F, G, M): (W a)^H, W being Hermitian
                self._norm = np.asarray(np.sum(Wa.real ** 2 + Wa.imag ** 2, axis=-1, dtype=np.float64))
                self._wkey = key
            return self._W, self._norm

        def _process(self, X: np.ndarray) -> None:
            Ac = self.steering_conj()
            Xf = X[:, self.freq_bins, :].transpose(1, 0, 2)  # (F, M, S)
            if self.whiten is not None:
                W, norm = self._whitening()
                Xf = W @ Xf
            C = Xf @ np.conj(Xf.transpose(0, 2, 1)) / Xf.shape[2]  # (F, M, M)
            _, v = np.linalg.eigh(C)
            Es = v[..., -self.num_src:].astype(np.complex64)  # (F, M, k)
            if self.whiten is not None:
                proj = Ac @ (W @ Es)  # (W a)^H e_k
                denom = np.abs(norm - np.sum(proj.real ** 2 + proj.imag ** 2, axis=-1, dtype=np.float64))
                P = norm / np.maximum(denom, 1e-12)
            else:
                proj = Ac @ Es  # (F, G, k): a^H e_k
                denom = np.abs(self.M - np.sum(proj.real ** 2 + proj.imag ** 2, axis=-1, dtype=np.float64))
                P = 1.0 / np.maximum(denom, 1e-12)  # (F, G)
            if self.frequency_normalization:
                P = P / np.max(P, axis=1, keepdims=True)
            self.Pssl = P.T
            self.grid.set_values(np.sum(P, axis=0) / self.num_freq)

    class FastNormMUSIC(FastMUSIC):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("frequency_normalization", True)
            super().__init__(*args, **kwargs)

    class FastSRP(_Steering, pra.doa.SRP):
        def _process(self, X: np.ndarray) -> None:
            Ac = self.steering_conj()
            Xf = X[:, self.freq_bins, :].transpose(1, 0, 2)  # (F, M, S)
            pX = (Xf / np.maximum(np.abs(Xf), 1e-14)).astype(np.complex64)
            proj = Ac @ pX  # (F, G, S)
            total = np.sum(proj.real ** 2 + proj.imag ** 2, axis=(0, 2), dtype=np.float64)  # sum over f, s of a^H C a
            M, S, F = self.M, Xf.shape[2], self.num_freq
            pairs = M * (M - 1) / 2
            # pyroomacoustics: (2 * sum_{i<j} Re(...) + S*M*F) / S / F / pairs, and the full
            # quadratic form is exactly that numerator.
            self.grid.set_values(total / S / F / pairs)

    return {"normmusic": FastNormMUSIC, "music": FastMUSIC, "srp": FastSRP}


class DirectionFinder:
    """Find the directions of the strongest sources in a block of STFT frames.

    ``estimate(X)`` takes X of shape (frames, freqs, mics) with freqs = n_fft/2 + 1 and
    returns the ``num_sources`` strongest peaks of the pseudo-spectrum on a grid of
    ``grid_step_deg``, refined by parabolic interpolation, at least ``min_separation_deg``
    apart. Mics may be left out per call (``use``), e.g. a dead channel; a finder per
    subset is built on demand and kept.

    ``subspace`` is MUSIC's signal-subspace dimension per frequency. 1 (the default) suits
    speech even with two talkers: in each time-frequency bin one talker dominates, so the
    frequency-normalised spectrum still shows both peaks, while a larger subspace would
    blur single talkers.

    ``whiten``: "diffuse" whitens against a diffuse field (see the module docstring), "none"
    does not, "auto" does so for linear arrays only (with the MUSIC algorithms of the
    vectorised back end, the only ones that support it).
    """

    def __init__(self, geometry: ArrayGeometry, rate: int, n_fft: int, algorithm: Algorithm = "normmusic",
                 freq_range: Sequence[float] = (300.0, 3500.0), num_sources: int = 1, grid_step_deg: float = 1.0,
                 min_separation_deg: float = 20.0, subspace: int = 1, backend: Backend = "vectorised", c: float = SPEED_OF_SOUND,
                 whiten: Whiten = "auto") -> None:
        self.geometry = geometry
        self.rate = rate
        self.n_fft = n_fft
        self.algorithm = algorithm
        self.freq_range = [float(freq_range[0]), float(freq_range[1])]
        self.num_sources = num_sources
        self.min_separation_deg = min_separation_deg
        self.subspace = subspace
        self.backend = backend
        self.c = c
        can = backend == "vectorised" and algorithm in ("normmusic", "music")
        if whiten == "diffuse" and not can:
            raise ValueError("whiten='diffuse' needs algorithm normmusic or music with the vectorised back end")
        self.whiten = whiten == "diffuse" or (whiten == "auto" and can and geometry.is_linear)
        lo, hi = geometry.azimuth_range()
        self.full_circle = hi - lo >= 360.0
        n = int(round((hi - lo) / grid_step_deg))
        deg = np.arange(n) * (360.0 / n) if self.full_circle else lo + np.arange(n + 1) * ((hi - lo) / n)
        self.grid_deg = wrap_deg(deg)  # contiguous: neighbours in the array are neighbours in space
        rad = np.mod(np.deg2rad(deg), 2 * np.pi)
        self._grid_rad = rad
        # pyroomacoustics sorts its grid by radians; map its values back to our contiguous order.
        pra_order = np.argsort(rad, kind="stable")
        self._from_pra = np.empty(len(rad), dtype=np.int64)
        self._from_pra[pra_order] = np.arange(len(rad))
        self._step = float(grid_step_deg) if self.full_circle else (hi - lo) / n
        self._finders: dict[tuple[int, ...], Any] = {}

    # -- set-up ------------------------------------------------------------------------------
    def _finder(self, use: tuple[int, ...]) -> Any:
        f = self._finders.get(use)
        if f is None:
            import pyroomacoustics as pra

            if self.backend == "vectorised" and self.algorithm in ("normmusic", "music", "srp"):
                cls = _vectorised_classes()[self.algorithm]
            else:
                cls = pra.doa.algorithms[PRA_NAMES[self.algorithm]]
            L = self.geometry.xyz[list(use)].T  # (3, M)
            f = cls(L, self.rate, self.n_fft, c=self.c, num_src=self.subspace, azimuth=self._grid_rad, dim=2)
            if self.whiten:
                f.whiten = (self.geometry.xyz[list(use)], WHITEN_LOADING)
            self._finders[use] = f
        return f

    # -- estimation ------------------------------------------------------------------------
    def spectrum(self, X: np.ndarray, use: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """Pseudo-spectrum over ``grid_deg`` for X (frames, freqs, mics)."""
        use_t = tuple(range(X.shape[2])) if use is None else tuple(use)
        f = self._finder(use_t)
        Xm = np.ascontiguousarray(X[:, :, list(use_t)].transpose(2, 1, 0))  # (mics, freqs, frames)
        if self.algorithm == "tops" and Xm.shape[2] < len(use_t) + 1:
            raise ValueError("TOPS needs more frames per block than mics")
        f.locate_sources(Xm, num_src=self.subspace, freq_range=self.freq_range)
        return np.asarray(f.grid.values, dtype=np.float64)[self._from_pra]

    def estimate(self, X: np.ndarray, use: Sequence[int] | np.ndarray | None = None) -> DoaResult:
        P = self.spectrum(X, use)
        return self.peaks(P)

    def peaks(self, P: np.ndarray) -> DoaResult:
        """The strongest local maxima of a pseudo-spectrum, refined and scored."""
        if self.full_circle:
            left, right = np.roll(P, 1), np.roll(P, -1)
            cand = np.flatnonzero((P >= left) & (P > right))
        else:
            left = np.r_[-np.inf, P[:-1]]
            right = np.r_[P[1:], -np.inf]
            cand = np.flatnonzero((P >= left) & (P > right))
        if len(cand) == 0:
            cand = np.array([int(np.argmax(P))])
        cand = cand[np.argsort(P[cand])[::-1]]
        pmax = float(P[cand[0]])
        med = float(np.median(P))
        pmin = float(np.min(P))
        span = max(pmax - pmin, 1e-12)
        peakiness = (pmax - med) / span if span > 1e-12 else 0.0
        chosen: list[float] = []
        strengths: list[float] = []
        for i in cand:
            az = self._refine(P, int(i))
            if any(abs(float(wrap_deg(az - c))) < self.min_separation_deg for c in chosen):
                continue
            chosen.append(az)
            strengths.append(float((P[i] - med) / span) if span > 1e-12 else 0.0)
            if len(chosen) >= self.num_sources:
                break
        return DoaResult(np.asarray(chosen, dtype=np.float64), np.clip(np.asarray(strengths), 0.0, 1.0), P, float(np.clip(peakiness, 0.0, 1.0)))

    def _refine(self, P: np.ndarray, i: int) -> float:
        n = len(P)
        if self.full_circle:
            a, b, c = P[(i - 1) % n], P[i], P[(i + 1) % n]
        elif 0 < i < n - 1:
            a, b, c = P[i - 1], P[i], P[i + 1]
        else:
            return float(self.grid_deg[i])
        den = a - 2 * b + c
        off = 0.5 * (a - c) / den if den < 0 else 0.0
        off = float(np.clip(off, -0.5, 0.5))
        return float(wrap_deg(self.grid_deg[i] + off * self._step))


class LevelTracker:
    """How far a block's level stands above the background: a running noise-floor estimate.

    The floor follows the block level down at once and up slowly (about ``rise_db_per_s``),
    a simple form of minimum statistics: speech rarely lasts long enough to lift it, while a
    louder background (an air conditioner switching on) is learnt within seconds.
    ``activity`` maps the level above the floor to 0-1 between ``lo_db`` and ``hi_db``.
    """

    def __init__(self, rise_db_per_s: float = 1.0, lo_db: float = 3.0, hi_db: float = 15.0) -> None:
        self.rise = rise_db_per_s
        self.lo = lo_db
        self.hi = hi_db
        self.floor_db: float | None = None

    def update(self, level: float, dt: float) -> tuple[float, float]:
        """Feed a block's mean power; return (dB above the floor, activity 0-1)."""
        db = 10.0 * math.log10(max(level, 1e-20))
        if self.floor_db is None or db < self.floor_db:
            self.floor_db = db
        else:
            self.floor_db += self.rise * dt
        snr = db - self.floor_db
        act = (snr - self.lo) / (self.hi - self.lo)
        return snr, float(min(1.0, max(0.0, act)))
