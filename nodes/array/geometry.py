"""Microphone array geometry: device presets, geometry JSON files, and checks against a recording.

Coordinates are metres in the array's own frame: +x is azimuth 0, +y azimuth +90 degrees
(counter-clockwise seen from above), +z up. Azimuths everywhere in meetflow are degrees in
(-180, 180], counter-clockwise from +x.

A device often delivers more channels than it has microphones (a processed channel, a
loopback of the playback). A geometry therefore says which input channels carry its mics
(``channels``) and how many channels the device delivers (``device_channels``): a recording
with exactly as many channels as mics is taken as-is, one with ``device_channels`` channels
has the mic channels picked out, anything else is a mismatch reported before any audio is
processed.

A geometry JSON file looks like::

    {"name": "my-array", "units": "m", "mics": [[x, y, z], ...],
     "channels": [1, 2, 3, 4], "device_channels": 6}

(``units`` may be "m", "cm" or "mm"; ``channels``/``device_channels`` are optional.)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

#: Speed of sound (m/s) at about 20 degrees C.
SPEED_OF_SOUND = 343.0


@dataclass(frozen=True)
class ArrayGeometry:
    """Where each microphone sits, and which input channels carry them."""

    name: str
    positions: tuple[tuple[float, float, float], ...]
    description: str = ""
    channels: tuple[int, ...] | None = None
    device_channels: int | None = None
    source: str = "preset"  # "preset", a file path, or "inline"

    # -- derived ---------------------------------------------------------------------------
    @property
    def n_mics(self) -> int:
        return len(self.positions)

    @property
    def xyz(self) -> np.ndarray:
        """Positions as an array of shape (mics, 3)."""
        return np.asarray(self.positions, dtype=np.float64)

    @property
    def aperture(self) -> float:
        """Largest distance between two microphones (m)."""
        p = self.xyz
        return float(np.max(np.linalg.norm(p[:, None, :] - p[None, :, :], axis=-1)))

    @property
    def is_linear(self) -> bool:
        """True when all mics lie on one line: such an array cannot tell front from back."""
        p = self.xyz[:, :2] - self.xyz[:, :2].mean(axis=0)
        if len(p) < 3:
            return True
        s = np.linalg.svd(p, compute_uv=False)
        return bool(s[1] < 1e-6 * max(s[0], 1e-12))

    @property
    def is_planar(self) -> bool:
        return bool(np.ptp(self.xyz[:, 2]) < 1e-6)

    def azimuth_range(self) -> tuple[float, float]:
        """The azimuths the array can tell apart: a full circle, or a half plane for a line.

        A linear array hears a source and its mirror image across the array axis alike, so
        it reports directions in [axis, axis + 180] degrees only.
        """
        if not self.is_linear:
            return (-180.0, 180.0)
        p = self.xyz[:, :2]
        d = p[-1] - p[0]
        axis = math.degrees(math.atan2(d[1], d[0]))
        return (axis, axis + 180.0)

    def subset(self, mics: Sequence[int]) -> "ArrayGeometry":
        """The geometry of some of the mics (e.g. without a dead channel)."""
        return ArrayGeometry(f"{self.name}[{','.join(map(str, mics))}]", tuple(self.positions[i] for i in mics), self.description, source=self.source)

    def input_channels(self, n_input: int) -> list[int] | None:
        """Which of ``n_input`` recording channels are the mics, in mic order; None if it does not fit."""
        if self.channels is not None and self.device_channels is not None and n_input == self.device_channels:
            return list(self.channels)
        if n_input == self.n_mics:
            return list(range(n_input))
        return None

    def expected_channels(self) -> str:
        """Human description of the channel counts this geometry accepts."""
        if self.device_channels and self.device_channels != self.n_mics:
            return f"{self.n_mics} (its mics) or {self.device_channels} (the device's raw channels)"
        return f"{self.n_mics} (its mics)"

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "units": "m", "mics": [list(p) for p in self.positions]}
        if self.description:
            d["description"] = self.description
        if self.channels is not None:
            d["channels"] = list(self.channels)
        if self.device_channels is not None:
            d["device_channels"] = self.device_channels
        return d


def _ring(radius: float, angles_deg: Sequence[float], centre: bool = False) -> tuple[tuple[float, float, float], ...]:
    pts = [(0.0, 0.0, 0.0)] if centre else []
    for a in angles_deg:
        r = math.radians(a)
        pts.append((round(radius * math.cos(r), 6), round(radius * math.sin(r), 6), 0.0))
    return tuple(pts)


#: Device presets. Mic order and channel maps follow the devices' raw channel order.
PRESETS: dict[str, ArrayGeometry] = {
    "circular7": ArrayGeometry(
        "circular7",
        _ring(0.0425, [0, 60, 120, 180, 240, 300], centre=True),
        "meeting-device layout (as in LibriCSS / NOTSOFAR recordings): centre mic first (channel 0), "
        "then six mics at 0, 60, ..., 300 degrees counter-clockwise from +x on a 4.25 cm circle",
    ),
    "uma8": ArrayGeometry(
        "uma8",
        _ring(0.043, [90, 30, -30, -90, -150, 150], centre=True),
        "miniDSP UMA-8 (v2): centre mic then six on a 4.3 cm circle starting at +y and going clockwise; "
        "its 8-channel raw stream carries the mics on channels 0-6",
        channels=tuple(range(7)),
        device_channels=8,
    ),
    "respeaker4": ArrayGeometry(
        "respeaker4",
        _ring(0.0405, [180, 90, 0, -90]),
        "ReSpeaker 4-Mic Array for Raspberry Pi: four mics on the corners of a square, 4.05 cm from its centre",
    ),
    "respeaker_usb4": ArrayGeometry(
        "respeaker_usb4",
        _ring(0.032, [180, -90, 0, 90]),
        "ReSpeaker USB Mic Array v2.0: four mics 3.2 cm from the centre; its 6-channel firmware carries "
        "the raw mics on channels 1-4 (0 is the processed signal, 5 the playback)",
        channels=(1, 2, 3, 4),
        device_channels=6,
    ),
    "respeaker6": ArrayGeometry(
        "respeaker6",
        _ring(0.0463, [120, 180, -120, -60, 0, 60]),
        "ReSpeaker 6-Mic Circular Array: six mics on a 4.63 cm circle; its 8-channel stream carries the "
        "mics on channels 0-5 (6-7 are the playback loopback)",
        channels=tuple(range(6)),
        device_channels=8,
    ),
    "linear4": ArrayGeometry(
        "linear4",
        tuple((round(x, 6), 0.0, 0.0) for x in (-0.06, -0.02, 0.02, 0.06)),
        "four mics on a line along +x, 4 cm apart (a sound-bar / laptop layout); a line cannot tell "
        "front from back, so directions come out in [0, 180] degrees",
    ),
}

#: Values of the ``array`` setting that switch direction finding off.
OFF = ("none", "off", "mono")


class GeometryError(ValueError):
    """A geometry that cannot be used: unknown preset, unreadable or malformed file."""


_UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001}


def from_mics(mics: Sequence[Sequence[float]], name: str = "custom", units: str = "m", channels: Sequence[int] | None = None,
              device_channels: int | None = None, source: str = "inline") -> ArrayGeometry:
    """Build a geometry from explicit coordinates, checking that it can localise anything."""
    if units not in _UNITS:
        raise GeometryError(f"unknown units {units!r} (use m, cm or mm)")
    scale = _UNITS[units]
    pts = []
    for i, p in enumerate(mics):
        if not isinstance(p, (list, tuple)) or len(p) not in (2, 3) or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in p):
            raise GeometryError(f"mic {i}: expected [x, y] or [x, y, z] in {units}, got {p!r}")
        x, y, z = (list(p) + [0.0])[:3]
        pts.append((float(x) * scale, float(y) * scale, float(z) * scale))
    if len(pts) < 2:
        raise GeometryError(f"an array needs at least 2 mics, got {len(pts)}")
    arr = np.asarray(pts)
    dists = np.linalg.norm(arr[:, None] - arr[None], axis=-1)[np.triu_indices(len(pts), 1)]
    if dists.min() < 1e-4:
        raise GeometryError("two mics share the same position (check the coordinates and their units)")
    if dists.max() > 2.0:
        raise GeometryError(f"mics are {dists.max():.2f} m apart: coordinates must be in {units}; is that right?")
    if channels is not None:
        channels = tuple(int(c) for c in channels)
        if len(channels) != len(pts):
            raise GeometryError(f"'channels' lists {len(channels)} channel(s) for {len(pts)} mics")
        if device_channels is None or any(not 0 <= c < device_channels for c in channels):
            raise GeometryError("'channels' needs 'device_channels' and must index below it")
    return ArrayGeometry(name, tuple(pts), channels=channels, device_channels=device_channels, source=source)


def load_geometry_file(path: str | Path) -> ArrayGeometry:
    """Read a geometry JSON file (``mics`` in metres unless ``units`` says otherwise)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GeometryError(f"{path}: no such geometry file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GeometryError(f"{path}: cannot read ({exc})") from None
    except ValueError as exc:
        raise GeometryError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("mics"), list):
        raise GeometryError(f"{path}: a geometry file is a JSON object with 'mics': [[x, y, z], ...]")
    try:
        return from_mics(doc["mics"], str(doc.get("name") or path.stem), str(doc.get("units", "m")), doc.get("channels"),
                         doc.get("device_channels"), source=str(path))
    except GeometryError as exc:
        raise GeometryError(f"{path}: {exc}") from None


def resolve_geometry(array: str | None, mics: Sequence[Sequence[float]] | None = None, base_dir: Path | None = None) -> ArrayGeometry | None:
    """The geometry a node was given: explicit ``mics``, a preset name, or a geometry file.

    Returns None when ``array`` switches direction finding off ("none").
    """
    if mics is not None:
        return from_mics(mics, name=array if array and array not in PRESETS and array.lower() not in OFF else "custom")
    if array is None or array.lower() in OFF:
        return None
    if array in PRESETS:
        return PRESETS[array]
    if array.lower() in PRESETS:
        return PRESETS[array.lower()]
    candidate = Path(array)
    if not candidate.is_absolute() and base_dir is not None and not candidate.exists():
        candidate = base_dir / candidate
    if candidate.suffix.lower() == ".json" or candidate.exists():
        return load_geometry_file(candidate)
    names = ", ".join(sorted(PRESETS))
    raise GeometryError(f"unknown array {array!r}: use a preset ({names}), a geometry JSON file, or 'none'")


def azimuth_of(xyz: Sequence[float], centre: Sequence[float] = (0.0, 0.0, 0.0)) -> float:
    """Azimuth (degrees, (-180, 180]) of a point seen from ``centre``."""
    return wrap_deg(math.degrees(math.atan2(xyz[1] - centre[1], xyz[0] - centre[0])))


def wrap_deg(a: Any) -> Any:
    """Wrap degrees into (-180, 180] (scalars or arrays)."""
    if isinstance(a, (float, int)):  # the common case in trackers: plain floats, no numpy overhead
        w = math.fmod(float(a) + 180.0, 360.0)
        if w < 0:
            w += 360.0
        w -= 180.0
        return 180.0 if w == -180.0 else w
    arr = np.mod(np.asarray(a, dtype=np.float64) + 180.0, 360.0) - 180.0
    arr = np.where(arr == -180.0, 180.0, arr)
    return float(arr) if np.ndim(arr) == 0 else arr


def round_az(a: float, digits: int = 2) -> float:
    """Round an azimuth for output, keeping it in (-180, 180] (-179.999 rounds to 180, not -180)."""
    r = round(float(wrap_deg(a)), digits)
    return 180.0 if r <= -180.0 else r


def angle_diff(a: Any, b: Any) -> Any:
    """Signed smallest difference ``a - b`` in degrees, in (-180, 180]."""
    return wrap_deg(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))


def diffuse_coherence(mics_xyz: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Coherence between mics of a spherically diffuse sound field, sinc(2 f d / c), per frequency (bins, mics, mics).

    The simulator colours its background noise with it, and the superdirective beam is the
    MVDR beam for exactly this field.
    """
    mics_xyz = np.asarray(mics_xyz, dtype=np.float64)
    d = np.linalg.norm(mics_xyz[:, None, :] - mics_xyz[None, :, :], axis=-1)
    return np.sinc(2.0 * np.asarray(freqs, dtype=np.float64)[:, None, None] * d[None] / SPEED_OF_SOUND)


def describe_presets() -> str:
    return "\n".join(f"{name}: {g.n_mics} mics, {g.description}" for name, g in PRESETS.items())


__all__ = ["ArrayGeometry", "GeometryError", "OFF", "PRESETS", "SPEED_OF_SOUND", "angle_diff", "azimuth_of", "diffuse_coherence", "from_mics",
           "load_geometry_file", "resolve_geometry", "round_az", "wrap_deg"]
