"""Array geometry: presets, geometry files, channel maps, azimuth conventions."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from nodes.array.geometry import PRESETS, GeometryError, angle_diff, azimuth_of, from_mics, load_geometry_file, resolve_geometry, round_az, wrap_deg


def test_circular7_is_the_meeting_device_layout() -> None:
    g = PRESETS["circular7"]
    p = g.xyz
    assert g.n_mics == 7 and np.allclose(p[0], 0.0)  # centre mic is channel 0
    for k in range(6):
        a = math.radians(60 * k)  # then 0, 60, ..., 300 degrees counter-clockwise from +x
        assert np.allclose(p[k + 1], [0.0425 * math.cos(a), 0.0425 * math.sin(a), 0.0], atol=1e-6)


@pytest.mark.parametrize("name, mics, device", [("uma8", 7, 8), ("respeaker4", 4, None), ("respeaker_usb4", 4, 6), ("respeaker6", 6, 8), ("linear4", 4, None)])
def test_presets(name: str, mics: int, device: int | None) -> None:
    g = PRESETS[name]
    assert g.n_mics == mics and g.device_channels == device and g.aperture < 0.2
    assert g.input_channels(mics) == list(range(mics))
    if device:
        assert g.input_channels(device) == list(g.channels)  # the mics picked out of the device's raw stream
    assert g.input_channels(mics + 3) is None


def test_linear_array_resolves_a_half_plane_only() -> None:
    assert PRESETS["linear4"].is_linear and PRESETS["linear4"].azimuth_range() == (0.0, 180.0)
    assert not PRESETS["circular7"].is_linear and PRESETS["circular7"].azimuth_range() == (-180.0, 180.0)


def test_geometry_file_and_units(tmp_path: Path) -> None:
    f = tmp_path / "square.json"
    f.write_text(json.dumps({"name": "sq", "units": "cm", "mics": [[-5, -5], [-5, 5], [5, 5], [5, -5]]}))
    g = load_geometry_file(f)
    assert g.name == "sq" and g.n_mics == 4 and np.allclose(g.xyz[2], [0.05, 0.05, 0.0])
    assert resolve_geometry(str(f)) == g
    assert resolve_geometry("none") is None and resolve_geometry("OFF") is None
    assert resolve_geometry("Circular7") is PRESETS["circular7"]


@pytest.mark.parametrize("doc, message", [
    ("{not json", "not valid JSON"),
    (json.dumps({"mics": [[0, 0, 0]]}), "at least 2 mics"),
    (json.dumps({"mics": [[0, 0, 0], [0, 0, 0]]}), "same position"),
    (json.dumps({"mics": [[0, 0], [3, 0]]}), "apart"),
    (json.dumps({"mics": [[0, 0], ["a", 1]]}), "mic 1"),
    (json.dumps({"positions": []}), "'mics'"),
    (json.dumps({"mics": [[0, 0], [0.05, 0]], "units": "inch"}), "units"),
])
def test_bad_geometry_files_say_what_is_wrong(tmp_path: Path, doc: str, message: str) -> None:
    f = tmp_path / "g.json"
    f.write_text(doc)
    with pytest.raises(GeometryError, match=message):
        load_geometry_file(f)


def test_unknown_array_lists_the_presets() -> None:
    with pytest.raises(GeometryError, match="circular7.*respeaker6"):
        resolve_geometry("respeaker7")
    with pytest.raises(GeometryError, match="no such geometry file"):
        resolve_geometry("missing.json")


def test_inline_mics() -> None:
    g = from_mics([[0, 0, 0], [0.04, 0, 0], [0, 0.04, 0]])
    assert g.n_mics == 3 and g.source == "inline"


def test_azimuth_convention_and_wrap_around() -> None:
    assert azimuth_of((0, 1, 0)) == pytest.approx(90.0)  # counter-clockwise from +x
    assert azimuth_of((-1, 0, 0)) == 180.0 and abs(angle_diff(azimuth_of((-1, -1e-9, 0)), 180.0)) < 1e-6
    assert wrap_deg(-180.0) == 180.0 and wrap_deg(540.0) == 180.0 and wrap_deg(-190.0) == pytest.approx(170.0)
    assert round_az(-179.999) == 180.0 and round_az(179.994) == 179.99
    assert angle_diff(-175.0, 175.0) == pytest.approx(10.0) and angle_diff(175.0, -175.0) == pytest.approx(-10.0)
