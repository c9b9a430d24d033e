"""Channel health of an array stream (nodes/array/health.py) on synthetic signals: silence is no evidence."""

from __future__ import annotations

import numpy as np
import pytest

from nodes.array.health import ChannelHealth, DcBlocker

RATE = 16000
BLOCK = 320  # 20 ms, as the graphs feed it


def _talk(seconds: float, channels: int = 4, seed: int = 0, level: float = 0.1) -> np.ndarray:
    """Independent noise-like 'speech' per channel with pauses in it (on 0.6 s, off 0.2 s), plus mic self-noise."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    gate = (np.arange(n) % int(0.8 * RATE)) < int(0.6 * RATE)
    src = rng.standard_normal(n) * gate
    x = np.stack([np.roll(src, 3 * c) for c in range(channels)], axis=1)  # the same talker, a few samples apart per mic
    x += 1e-3 * rng.standard_normal((n, channels))
    return (level * x).astype(np.float32)


def _feed(x: np.ndarray, dc: bool = True) -> tuple[ChannelHealth, list[np.ndarray]]:
    """Run a stream through the checker block by block, as array.mics does; the drop masks over time."""
    h = ChannelHealth(x.shape[1], RATE)
    blocker = DcBlocker(x.shape[1], RATE) if dc else None
    masks = []
    for i in range(0, len(x), BLOCK):
        raw = x[i : i + BLOCK]
        masks.append(h.update(raw, blocker(raw) if blocker else raw).copy())
    return h, masks


def _zeros(seconds: float, channels: int = 4) -> np.ndarray:
    return np.zeros((int(seconds * RATE), channels), dtype=np.float32)


@pytest.mark.parametrize("tail_s", [1.5, 12.0])
def test_a_stream_ending_in_digital_silence_is_not_duplicated(tail_s: float) -> None:
    # the audit's case: a capture stopped after playback, or a file with zeros appended
    h, masks = _feed(np.concatenate([_talk(4.0), _zeros(tail_s)]))
    assert not h.report.duplicated and not h.report.copies
    assert not h.report.dead  # a long silent tail does not make the quietest channels look dead either
    assert not masks[-1].any()


def test_a_pause_of_zeros_mid_stream_is_no_evidence() -> None:
    x = np.concatenate([_talk(3.0, seed=1), _zeros(5.0), _talk(3.0, seed=2)])
    h, masks = _feed(x)
    assert not h.report.duplicated and not h.report.copies and not h.report.dead
    assert not any(m.any() for m in masks)


def test_a_mute_of_all_channels_but_one_is_not_the_same_signal() -> None:
    for live in (0, 2):
        x = _talk(3.0, seed=3)
        mute = _talk(4.0, seed=4)
        keep = mute[:, live].copy()
        mute[:] = 0.0
        mute[:, live] = keep
        h, _ = _feed(np.concatenate([x, mute, _talk(2.0, seed=5)]))
        assert not h.report.duplicated and not h.report.copies, live


def test_a_quiet_tail_far_below_the_running_level_is_no_evidence() -> None:
    # a faded-out tail quantised to 16 bits: mostly zeros with the same stray LSBs on every channel
    lsb = 1 / 32768
    rng = np.random.default_rng(6)
    tail = np.repeat((lsb * (rng.random((int(3.0 * RATE), 1)) < 0.01)).astype(np.float32), 4, axis=1)
    h, _ = _feed(np.concatenate([_talk(3.0), tail]))
    assert not h.report.duplicated and not h.report.copies


def test_a_copied_mono_stream_is_still_duplicated_even_with_silences() -> None:
    mono = _talk(4.0, channels=1, seed=7)
    x = np.concatenate([np.repeat(mono, 4, axis=1), _zeros(2.0), np.repeat(_talk(2.0, channels=1, seed=8), 4, axis=1)])
    h, masks = _feed(x)
    assert h.report.duplicated
    assert masks[-1].tolist() == [False, True, True, True]  # one channel is kept: it is the recording


def test_a_copied_channel_pair_is_left_out_but_the_rest_stays() -> None:
    x = _talk(4.0, channels=5, seed=9)
    x[:, 3] = x[:, 1]  # mic 3 carries mic 1's samples
    h, masks = _feed(np.concatenate([x, _zeros(2.0, 5)]))
    assert not h.report.duplicated
    assert h.report.copies == {3: 1}
    assert masks[-1].tolist() == [False, False, False, True, False]


def test_a_dead_channel_is_still_found_and_silence_does_not_revive_it() -> None:
    x = _talk(4.0, seed=10)
    x[:, 2] = 0.0
    h, masks = _feed(np.concatenate([x, _zeros(3.0)]))
    assert h.report.dead == {2} and not h.report.duplicated and not h.report.copies
    assert masks[-1].tolist() == [False, False, True, False]
