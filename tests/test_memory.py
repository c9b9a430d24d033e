"""Heap trimming during runs (pipeline/memory.py): freed memory goes back, runs report their RSS."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_graph

from pipeline import RunContext, load_graph, run_graph
from pipeline.executors.base import Executor
from pipeline.memory import MemoryKeeper, can_trim, rss_mb
from pipeline.metrics import RunMetrics


@pytest.mark.skipif(not can_trim() or rss_mb() is None, reason="needs glibc's malloc_trim and /proc")
def test_a_trim_hands_back_memory_that_a_fragmented_heap_keeps() -> None:
    # 2000 blocks of 100 kB (under glibc's mmap threshold, so they come from the heap) with
    # the last one kept alive: it pins the top of the heap, so freeing the others gives
    # nothing back by itself: the pattern native decoders leave behind.
    blocks = [bytearray(100_000) for _ in range(2000)]
    for b in blocks:
        b[::4096] = b"\1" * len(b[::4096])  # touch every page
    pin = blocks[-1]
    del blocks
    before = rss_mb()
    keeper = MemoryKeeper(interval_s=0)
    keeper.step()
    after = rss_mb()
    assert before is not None and after is not None
    assert before - after > 100, (before, after)
    assert keeper.trims == 1 and keeper.released_mb > 100
    assert len(pin) == 100_000


def _run_slow(tmp_path: Path, count: int, executor: str) -> RunMetrics:
    """Run ``count`` packets into a sink that spends 10 ms on each."""
    g = write_graph(
        tmp_path / "g.json",
        [{"id": "src", "type": "test.count", "params": {"count": count}},
         {"id": "sink", "type": "test.collect", "params": {"key": "m", "sleep_ms": 10}}],
        ["src.out -> sink.in"],
    )
    return run_graph(load_graph(g), RunContext(), executor)


@pytest.mark.parametrize("executor", ["inline", "threaded"])
def test_runs_trim_periodically_and_report_memory(tmp_path: Path, executor: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Executor, "trim_interval_s", 0.05)
    metrics = _run_slow(tmp_path, 40, executor)
    mem = metrics.to_json()["memory"]
    assert mem["trims"] >= 3  # 0.4 s of work, a trim every 0.05 s
    assert mem["trim"] is can_trim()
    if rss_mb() is not None:
        assert 0 < mem["rss_mb"]["start"] <= mem["rss_mb"]["peak"]
        assert mem["rss_mb"]["end"] <= mem["rss_mb"]["peak"]
    # a row every series_every trims (10 s), to tell a leak (in use, Python blocks rising) from fragmentation (free rising)
    series = mem["series"]
    assert series["columns"] == ["t_s", "rss_mb", "malloc_in_use_mb", "malloc_free_mb", "python_blocks"]
    assert len(series["rows"]) == 1 + (mem["trims"] - 1) // mem["series_every"] and all(r[4] > 0 for r in series["rows"])
    if can_trim():
        assert mem["mmap_threshold_kb"] == 4096 and mem["arena_max"] >= 2 and all(r[2] is not None and r[2] > 0 for r in series["rows"])


def test_trimming_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Executor, "trim_interval_s", 0.0)
    mem = _run_slow(tmp_path, 20, "inline").to_json()["memory"]
    assert mem["trims"] == 0 and mem["trim"] is False
