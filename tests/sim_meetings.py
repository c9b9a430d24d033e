"""Small simulated array meetings shared by the array tests (made once per test session)."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import pytest

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")

_ROOT = Path(tempfile.mkdtemp(prefix="meetflow-sim-"))
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)  # 15 MB of renders per run: gone when the test process ends


@functools.lru_cache(maxsize=None)
def meeting(talkers: int = 2, walking: int = 0, duration: float = 12.0, seed: int = 1, rt60: float = 0.3, snr: float | None = 20.0,
            array: str = "circular7") -> Path:
    """Folder with meeting.wav, references and scenario.json of a small simulated meeting."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    from nodes.sim.meeting import render, write_outputs
    from nodes.sim.scenario import MeetingConfig, generate

    cfg = MeetingConfig(talkers=talkers, walking=walking, duration_s=duration, rt60=rt60, snr_db=snr, array=array, room=(5.0, 4.5, 2.8),
                        sentences=(1, 1), pause_s=(0.4, 0.8), overlap=0.0)
    out = _ROOT / f"m{talkers}-{walking}-{duration:g}-{seed}-{rt60:g}-{snr}-{array}"
    write_outputs(render(generate(cfg, seed)), out)
    return out
