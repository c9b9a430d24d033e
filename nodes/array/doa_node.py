"""The direction-of-arrival node: STFT frames in, directions of the strongest talkers out."""

from __future__ import annotations

from dataclasses import replace

from pathlib import Path
from typing import Any, Literal, Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline import ConfigError, DirectionEstimate, In, Node, Out, Packet, Spectrum, StreamInfo, media_time

from .doa import DirectionFinder, LevelTracker
from .geometry import ArrayGeometry, GeometryError, resolve_geometry
from .mics import GEOMETRY_KEY, OFF_KEY


class DoaParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    algorithm: Literal["normmusic", "music", "srp", "tops"] = Field("normmusic", description="pyroomacoustics algorithm: normmusic "
                                                                     "(MUSIC with frequency normalisation, the default), music, srp (SRP-PHAT), tops (slow).")
    freq_range: tuple[float, float] = Field((300.0, 3500.0), description="Frequency band used (Hz): where speech has energy and the array resolves directions.")
    num_sources: int = Field(2, ge=1, le=8, description="Directions reported per block at most (strongest first).")
    block_ms: float = Field(160.0, gt=0, le=1000, description="Audio per estimate (ms); more frames give steadier estimates, fewer react faster.")
    step_ms: float | None = Field(None, gt=0, le=1000, description="Time between estimates (ms); default: block_ms (no overlap).")
    grid_step_deg: float = Field(1.0, gt=0, le=10, description="Resolution of the direction grid (refined by interpolation).")
    min_separation_deg: float = Field(20.0, ge=0, le=180, description="Peaks closer than this count as one source.")
    subspace: int = Field(1, ge=1, description="MUSIC signal-subspace dimension per frequency (1 suits speech, see doa.py).")
    backend: Literal["vectorised", "pyroomacoustics"] = Field("vectorised", description="vectorised: pyroomacoustics' classes with a "
                                                              "faster, equivalent evaluation; pyroomacoustics: its own evaluation (about 5x slower).")
    whiten: Literal["auto", "diffuse", "none"] = Field("auto", description=(
        "Whiten the channels against a diffuse field (reverberation, room noise) before MUSIC: auto does so for linear arrays, "
        "which otherwise read directions too close to broadside in a room (see doa.py); diffuse needs normmusic or music with "
        "the vectorised back end."))
    array: str | None = Field(None, description="Geometry (preset or file); default: the one declared by the array.mics node upstream.")
    keep_spectrum: bool = Field(False, description="Attach the pseudo-spectrum to every estimate (plots, fusion).")

    @model_validator(mode="after")
    def _check(self) -> "DoaParams":
        lo, hi = self.freq_range
        if not 0 <= lo < hi:
            raise ValueError(f"freq_range must be [low, high] with 0 <= low < high, got {list(self.freq_range)}")
        if self.whiten == "diffuse" and (self.algorithm not in ("normmusic", "music") or self.backend != "vectorised"):
            raise ValueError("whiten=diffuse needs algorithm normmusic or music with the vectorised back end")
        return self


class Doa(Node):
    """Direction of arrival per block of STFT frames (pyroomacoustics NormMUSIC by default).

    Every ``step_ms`` it looks at the last ``block_ms`` of frames and reports up to
    ``num_sources`` directions, strongest first, with each peak's ``strength`` (its height
    above the spectrum's median, relative to the whole spectrum's span: 0-1) and the block's
    ``activity`` (how far its level in the band stands above the running background: 0 at
    3 dB, 1 at 15 dB and more), so a tracker can ignore silence and noise. Mics whose channel
    is silent (zeroed as broken by ``array.mics``) are left out of the estimate.

    For a linear array, directions are reported in the half plane it can resolve.
    """

    type_name = "array.doa"
    Params = DoaParams
    inputs = {"spectrum": In(Spectrum, "STFT frames of the array's mics (array.stft).")}
    outputs = {"directions": Out(DirectionEstimate, "Directions found per block, strongest first.", lag=2.0)}

    params: DoaParams

    def __init__(self, node_id: str, params: BaseModel, context: Any) -> None:
        super().__init__(node_id, params, context)
        self.geometry: ArrayGeometry | None = None
        self.off: str | None = None
        self._finder: DirectionFinder | None = None
        self._frames: list[np.ndarray] = []
        self._first = 0  # frame index of the first held frame
        self._held = 0
        self._warned_mics = False
        self._warned_two = False

    def _pass_progress(self) -> None:
        """Off: no blocks will be held back, so input progress passes through without lag."""
        self.outputs = {"directions": replace(type(self).outputs["directions"], lag=0.0)}  # type: ignore[misc]  # this node's own ports

    def configure(self, inputs: Mapping[str, StreamInfo]) -> Mapping[str, StreamInfo]:
        info = inputs.get("spectrum", StreamInfo())
        p = self.params
        self.off = info.extra.get(OFF_KEY)
        if self.off:
            self._pass_progress()
            return {"directions": info.with_(extra={**info.extra})}
        if p.array is not None:
            try:
                self.geometry = resolve_geometry(p.array, None, Path.cwd())
            except GeometryError as exc:
                raise ConfigError(str(exc), "array") from None
            if self.geometry is None:
                self.off = f"direction finding is off (array={p.array})"
                self._pass_progress()
                return {"directions": info.with_(extra={**info.extra, OFF_KEY: self.off})}
        else:
            self.geometry = info.extra.get(GEOMETRY_KEY)
            if self.geometry is None:
                raise ConfigError("no array geometry: put an array.mics node before array.stft, or set 'array' here", "array")
        if info.channels is not None and info.channels != self.geometry.n_mics:
            raise ConfigError(f"the spectrum has {info.channels} channel(s) but array '{self.geometry.name}' has {self.geometry.n_mics} mics", "array")
        rate, hop = info.rate, info.extra.get("hop")
        if rate and hop:
            block = max(1, int(round(p.block_ms / 1000 * rate / hop)))
            if p.algorithm == "tops" and block <= self.geometry.n_mics:
                raise ConfigError(f"TOPS needs more frames per block than mics ({self.geometry.n_mics}); raise block_ms", "block_ms")
            if p.freq_range[1] > rate / 2:
                raise ConfigError(f"freq_range reaches {p.freq_range[1]:g} Hz, above the Nyquist frequency ({rate / 2:g} Hz)", "freq_range")
        extra = {**info.extra, GEOMETRY_KEY: self.geometry, "azimuth_range": self.geometry.azimuth_range()}
        return {"directions": info.with_(channels=None, extra=extra)}

    def open(self) -> None:
        if self.off is None:
            import pyroomacoustics  # noqa: F401  (imported here so the first block is not delayed)
        self._finder = None
        self._level = LevelTracker()
        self._frames, self._held = [], 0

    def _setup(self, s: Spectrum) -> None:
        p = self.params
        assert self.geometry is not None
        self._finder = DirectionFinder(self.geometry, s.sample_rate, s.n_fft, p.algorithm, p.freq_range, p.num_sources, p.grid_step_deg,
                                       p.min_separation_deg, p.subspace, p.backend, whiten=p.whiten)
        self._block = max(1, int(round(p.block_ms / 1000 * s.sample_rate / s.hop)))
        self._step = max(1, int(round((p.step_ms or p.block_ms) / 1000 * s.sample_rate / s.hop)))
        self._hop, self._n_fft, self._rate = s.hop, s.n_fft, s.sample_rate
        lo, hi = p.freq_range
        self._band = slice(int(np.ceil(lo * s.n_fft / s.sample_rate)), int(np.floor(hi * s.n_fft / s.sample_rate)) + 1)
        self._first = s.start

    def process(self, port: str, packet: Packet) -> None:
        if self.off is not None:
            self.advance("directions", packet.t1)
            return
        s: Spectrum = packet.payload
        if self._finder is None:
            self._setup(s)
        if not self._frames:
            self._first = s.start
        self._frames.append(s.bins)
        self._held += s.frames
        while self._held >= self._block:
            X = np.concatenate(self._frames) if len(self._frames) > 1 else self._frames[0]
            self._estimate(X[: self._block], self._first)
            X = X[self._step :]
            self._first += self._step
            self._frames = [X] if len(X) else []
            self._held = len(X)
            # the next block starts here: a join waiting on directions (array.beam) may go on up to it
            self.advance("directions", media_time(self._first * self._hop, self._rate))

    def flush(self) -> None:
        if self.off is None and self._finder is not None and self._held >= max(2, self._block // 2):
            X = np.concatenate(self._frames)
            self._estimate(X, self._first)
        self._frames, self._held = [], 0

    def _note(self, msg: str) -> None:
        self.context.log.info(msg)
        self.context.summary.setdefault("warnings", []).append(msg)

    def _estimate(self, X: np.ndarray, first: int) -> None:
        assert self._finder is not None
        band = X[:, self._band, :]
        power = np.mean(band.real ** 2 + band.imag ** 2, axis=(0, 1))  # per mic
        live = power > 1e-6 * max(float(np.median(power)), 1e-30)
        use = np.flatnonzero(live)
        t0 = media_time(first * self._hop, self._rate)
        t1 = media_time((first + len(X) - 1) * self._hop + self._n_fft, self._rate)
        level = float(np.mean(power[live])) if len(use) else 0.0
        _, activity = self._level.update(level, len(X) * self._hop / self._rate)
        need = 2
        if len(use) < need or level <= 0.0:
            if len(use) < need and level > 0 and not self._warned_mics:
                self._warned_mics = True
                self._note(f"node '{self.id}': only {len(use)} live mic(s) from {t0:.2f} s: no directions until more channels carry signal")
            self.emit("directions", Packet(t0, t1, DirectionEstimate(np.zeros(0), np.zeros(0), 0.0)))
            return
        if len(use) == 2 and self._finder.full_circle and not self._warned_two:
            self._warned_two = True
            self._note(f"node '{self.id}': only 2 live mics from {t0:.2f} s: each direction is ambiguous with its mirror image")
        r = self._finder.estimate(X, None if len(use) == X.shape[2] else use)
        est = DirectionEstimate(r.azimuth_deg, r.strength, activity)
        if self.params.keep_spectrum:
            est.grid_deg = self._finder.grid_deg
            est.spectrum = r.spectrum
        self.emit("directions", Packet(t0, t1, est))
