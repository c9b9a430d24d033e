"""Resampler and audio file source: exact lengths and times, formats, channels, truncation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import capture, tone, write_graph

from nodes.audio.resample import StreamingResampler
from pipeline import InputError, RunContext, load_graph, run_graph


@pytest.mark.parametrize("rate_in,rate_out", [(44100, 16000), (48000, 16000), (8000, 16000), (22050, 16000), (16000, 16000)])
def test_resampler_is_block_size_independent_and_exact_length(rate_in: int, rate_out: int) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((rate_in + 123, 2)).astype(np.float32)
    whole = StreamingResampler(rate_in, rate_out, 2)
    y1 = np.concatenate([whole.process(x), whole.flush()])
    r = StreamingResampler(rate_in, rate_out, 2)
    parts, i = [], 0
    while i < len(x):
        n = int(rng.integers(1, 3000))
        parts.append(r.process(x[i : i + n]))
        i += n
    y2 = np.concatenate(parts + [r.flush()])
    assert len(y1) == len(y2) == -(-len(x) * rate_out // rate_in)
    np.testing.assert_array_equal(y1, y2)


@pytest.mark.parametrize("rate_in", [44100, 48000, 8000])
def test_resampler_preserves_time_and_tone(rate_in: int) -> None:
    # a 440 Hz tone must come out as the same tone at the same instants
    t = np.arange(2 * rate_in) / rate_in
    x = np.sin(2 * np.pi * 440 * t)[:, None].astype(np.float32)
    r = StreamingResampler(rate_in, 16000, 1)
    y = np.concatenate([r.process(x), r.flush()])[:, 0]
    ty = np.arange(len(y)) / 16000
    err = np.abs(y - np.sin(2 * np.pi * 440 * ty))[200:-200]
    assert err.max() < 1e-3


def _run_source(tmp_path: Path, path: Path, **params):
    nodes = [{"id": "src", "type": "io.audio_file", "params": {"path": str(path), **params}}, {"id": "sink"}]
    return capture(nodes, ["src.audio -> sink.in"], tmp_path)


@pytest.mark.parametrize("fmt,subtype,rate", [("WAV", "PCM_16", 16000), ("FLAC", "PCM_24", 44100), ("OGG", "VORBIS", 48000), ("WAV", "FLOAT", 8000)])
def test_file_source_reads_formats_and_resamples(tmp_path: Path, fmt: str, subtype: str, rate: int) -> None:
    x = tone(1.5, rate, channels=3)
    path = tmp_path / f"a.{fmt.lower()}"
    sf.write(path, x, rate, format=fmt, subtype=subtype)
    got, ex = _run_source(tmp_path, path)
    blocks = [p.payload for p in got]
    assert all(b.rate == 16000 and b.channels == 3 for b in blocks)
    assert all(len(b.samples) == 320 for b in blocks[:-1])
    total = sum(len(b.samples) for b in blocks)
    assert abs(total - 1.5 * 16000) <= 2
    # media time is exact and contiguous
    for a, b in zip(got, got[1:]):
        assert b.t0 == a.t1 and b.payload.start == a.payload.start + len(a.payload.samples)
    assert got[-1].t1 == total / 16000
    y = np.concatenate([b.samples for b in blocks])[:, 1]
    ty = np.arange(len(y)) / 16000
    tol = 0.05 if subtype == "VORBIS" else 2e-3
    assert np.abs(y - 0.3 * np.sin(2 * np.pi * 440 * ty))[400:-400].max() < tol


def test_file_source_channel_selection_and_expectations(tmp_path: Path) -> None:
    x = np.stack([np.full(16000, c / 10, dtype=np.float32) for c in range(4)], axis=1)
    path = tmp_path / "four.wav"
    sf.write(path, x, 16000, subtype="FLOAT")
    got, _ = _run_source(tmp_path, path, channels=[3, 1], block_ms=100)
    assert got[0].payload.samples.shape == (1600, 2)
    np.testing.assert_allclose(got[0].payload.samples[0], [0.3, 0.1])
    with pytest.raises(InputError, match="has 4 channel"):
        _run_source(tmp_path, path, channels=[7])
    with pytest.raises(InputError, match="has 4 channel\\(s\\) but the graph expects 7"):
        _run_source(tmp_path, path, expect_channels=7)


def test_file_source_trims_and_paces(tmp_path: Path) -> None:
    path = tmp_path / "t.wav"
    sf.write(path, tone(2.0), 16000)
    got, _ = _run_source(tmp_path, path, start_s=0.5, duration_s=0.6)
    assert got[0].t0 == 0.0 and got[-1].t1 == pytest.approx(0.6)
    import time

    g = write_graph(tmp_path / "paced.json", [{"id": "src", "type": "io.audio_file", "params": {"path": str(path), "duration_s": 0.5}}, {"id": "sink", "type": "util.null_sink"}], ["src -> sink"])
    t = time.perf_counter()
    run_graph(load_graph(g), RunContext(realtime=True))
    assert time.perf_counter() - t >= 0.45


def test_truncated_file_is_read_to_where_data_stops(tmp_path: Path) -> None:
    path = tmp_path / "trunc.wav"
    sf.write(path, tone(2.0), 16000, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # header still announces 2 s
    got, ctx = _run_source(tmp_path, path)
    total = sum(len(p.payload.samples) for p in got)
    assert 0.9 * 16000 <= total <= 1.05 * 16000
    notes = ctx.summary["input_damaged"]
    assert len(notes) == 1 and "truncated" in notes[0] and str(path) in notes[0]


def test_corrupt_middle_is_processed_up_to_the_damage(tmp_path: Path) -> None:
    path = tmp_path / "cut.flac"
    rng = np.random.default_rng(0)
    sf.write(path, (0.1 * rng.standard_normal(48000)).astype(np.float32), 16000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    got, ctx = _run_source(tmp_path, path)
    total = sum(len(p.payload.samples) for p in got)
    assert 0.5 * 16000 < total < 2.5 * 16000
    assert "corrupt after" in ctx.summary["input_damaged"][0] or "truncated" in ctx.summary["input_damaged"][0]


@pytest.mark.parametrize("content,message", [
    (None, "no such file"),
    (b"", "not a readable recording"),
    (b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk", "not a readable recording"),
    (b"hello, I am not audio", "not a readable recording"),
])
def test_bad_input_files(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "bad.wav"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        _run_source(tmp_path, path)
    assert str(path) in str(info.value)


def test_empty_recording(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros((0, 1), dtype=np.float32), 16000)
    with pytest.raises(InputError, match="contains no audio"):
        _run_source(tmp_path, path)
