"""Lost-audio and drift detection against the wall clock (nodes/io/capture_clock.py).

The detector only sees (arrival time, frames) pairs, so a simulated device is exact here:
buffers of a fixed size arrive when the device's own clock completes them, plus scheduling
jitter; losses remove buffers; stalls hold buffers back and release them in a burst.
The same detector meets a real PulseAudio server in test_live_capture.py.
"""

from __future__ import annotations

import random

import pytest

from nodes.io.capture_clock import CaptureClock

RATE = 16000
BUF = 160  # 10 ms buffers


def simulate(seconds: float, drift_ppm: float = 0.0, jitter_ms: float = 3.0, lose: tuple[float, float] | None = None,
             stall: tuple[float, float] | None = None, burst_at_start_s: float = 0.0, seed: int = 0) -> tuple[CaptureClock, int]:
    """Feed a detector; return it and the number of frames really lost."""
    rng = random.Random(seed)
    clock = CaptureClock(RATE)
    device_rate = RATE * (1 + drift_ppm * 1e-6)
    n_buffers = int(seconds * RATE / BUF)
    lost = 0
    held: list[tuple[float, int]] = []
    for k in range(n_buffers):
        complete = (k + 1) * BUF / device_rate - burst_at_start_s  # device time at which buffer k is full
        if complete < 0:
            complete = 0.0001 * k  # audio from before the start, delivered at once
        if lose is not None and lose[0] <= complete < lose[0] + lose[1]:
            lost += BUF
            continue
        arrival = complete + abs(rng.gauss(0, jitter_ms / 1000))
        if stall is not None and stall[0] <= arrival < stall[0] + stall[1]:
            held.append((arrival, BUF))
            continue
        if held:  # the stall ends: everything held arrives in a burst
            release = max(arrival, stall[0] + stall[1]) if stall else arrival
            for i, (_, n) in enumerate(held):
                clock.observe(release + i * 1e-5, n)
            held = []
        clock.observe(arrival, BUF)
    return clock, lost


def test_healthy_stream_reports_nothing_lost() -> None:
    clock, _ = simulate(60, jitter_ms=8)
    s = clock.summary()
    assert s["overflows"] == 0 and s["lost_frames"] == 0
    assert abs(s["drift_ppm"]) < 20  # type: ignore[arg-type]


@pytest.mark.parametrize("ppm", [120.0, -80.0])
def test_drift_is_measured(ppm: float) -> None:
    clock, _ = simulate(240, drift_ppm=ppm, jitter_ms=3)
    assert clock.summary()["overflows"] == 0
    assert clock.drift_ppm() == pytest.approx(ppm, abs=10)


def test_drift_needs_enough_stream() -> None:
    clock, _ = simulate(10)
    assert clock.drift_ppm() is None


def test_a_loss_is_counted_once_with_its_length() -> None:
    clock, lost = simulate(30, lose=(12.0, 1.5), jitter_ms=5)
    s = clock.summary()
    assert s["overflows"] == 1
    assert lost == 1.5 * RATE
    assert s["lost_frames"] == pytest.approx(lost, abs=0.02 * RATE)


def test_losses_are_found_while_the_device_drifts() -> None:
    clock, lost = simulate(120, drift_ppm=-150, lose=(70.0, 0.5))
    assert clock.summary()["overflows"] == 1
    assert clock.lost == pytest.approx(lost, abs=0.03 * RATE)


def test_a_stall_whose_audio_arrives_late_is_not_a_loss() -> None:
    # The process was paused for 5 s; the server held the audio and delivers it in a burst.
    clock, lost = simulate(30, stall=(10.0, 5.0))
    assert lost == 0
    s = clock.summary()
    assert s["overflows"] == 0 and s["lost_frames"] == 0
    assert s["max_gap_s"] == pytest.approx(5.0, abs=0.05)


def test_a_prefilled_buffer_at_start_is_not_mistaken_for_a_loss() -> None:
    clock, _ = simulate(20, burst_at_start_s=0.4)
    assert clock.summary()["overflows"] == 0


def test_a_loss_soon_after_the_start_is_found() -> None:
    clock, lost = simulate(10, lose=(0.5, 1.0))
    assert clock.summary()["overflows"] == 1
    assert clock.lost == pytest.approx(lost, abs=0.02 * RATE)
