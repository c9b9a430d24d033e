"""Scheduler semantics: stream order, multi-input merge, executors agree, bounded queues, flush, failures."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
from conftest import write_graph
from engine_nodes import COLLECTED, FLUSHED

from pipeline import NodeError, RunContext, load_graph, media_time, run_graph

EXECUTORS = ["inline", "threaded"]


def run(path: Path, executor: str, **ctx):
    return run_graph(load_graph(path), RunContext(**ctx), executor)


@pytest.mark.parametrize("executor", EXECUTORS)
def test_order_on_a_stream_and_flush(tmp_path: Path, executor: str) -> None:
    g = write_graph(
        tmp_path / "g.json",
        [{"id": "src", "type": "test.count", "params": {"count": 500}},
         {"id": "sparse", "type": "test.sparse", "params": {"every": 7}},
         {"id": "sink", "type": "test.collect", "params": {"key": "s"}},
         {"id": "all", "type": "test.collect", "params": {"key": "all"}}],
        ["src.out -> sparse.in", "sparse.out -> sink.in", "src.out -> all.in"],
    )
    run(g, executor)
    assert [p for _, p in COLLECTED["all"]] == list(range(500))
    t0s = [t for t, _ in COLLECTED["all"]]
    assert t0s == sorted(t0s)
    # 500 = 71 * 7 + 3: the last 3 are only emitted by flush() at end of stream
    sums = [p[1] for _, p in COLLECTED["s"]]
    assert len(sums) == 72 and sums[-1] == 497 + 498 + 499
    assert FLUSHED == {"s": True, "all": True}


def _merge_graph(tmp_path: Path, watermark: bool = False) -> Path:
    # fan-out from one source into three branches of different shapes, fan-in into one join
    return write_graph(
        tmp_path / "merge.json",
        [{"id": "src", "type": "test.count", "params": {"count": 600, "rate": 100}},
         {"id": "double", "type": "test.scale", "params": {"factor": 2}},
         {"id": "sparse", "type": "test.sparse", "params": {"every": 9, "watermark": watermark}},
         {"id": "burst", "type": "test.burst", "params": {"n": 3}},
         {"id": "join", "type": "test.join3"},
         {"id": "sink", "type": "test.collect", "params": {"key": "join"}}],
        ["src.out -> double.in", "src.out -> sparse.in", "src.out -> burst.in",
         "double.out -> join.a", "sparse.out -> join.b", "burst.out -> join.c", "join.out -> sink.in"],
    )


def test_multi_input_merge_is_media_time_ordered(tmp_path: Path) -> None:
    run(_merge_graph(tmp_path), "inline")
    got = [p for _, p in COLLECTED["join"]]
    assert len(got) == 600 + 67 + 1800
    keys = [(t0, "abc".index(port)) for port, t0, _ in got]
    # delivered in (t0, input order) order, each input's own order kept
    assert keys == sorted(keys)
    bursts = [p for port, _, p in got if port == "c"]
    assert bursts == [(i, k) for i in range(600) for k in range(3)]


@pytest.mark.parametrize("watermark", [False, True])
def test_inline_and_threaded_give_identical_results(tmp_path: Path, watermark: bool) -> None:
    g = _merge_graph(tmp_path, watermark)
    run(g, "inline")
    inline = list(COLLECTED["join"])
    COLLECTED.clear()
    for _ in range(3):  # thread timing differs run to run; the result must not
        run(g, "threaded")
        assert COLLECTED["join"] == inline
        COLLECTED.clear()


def test_streams_of_different_rates_join_exactly(tmp_path: Path) -> None:
    # 10 ms blocks against 100 ms estimates: t = 10/100 s and 1/10 s must compare equal
    assert media_time(10, 100) == media_time(1, 10) == media_time(1600, 16000)
    g = write_graph(
        tmp_path / "rates.json",
        [{"id": "fast", "type": "test.count", "params": {"count": 300, "rate": 100}},
         {"id": "slow", "type": "test.count", "params": {"count": 30, "rate": 10}},
         {"id": "join", "type": "test.join3"},
         {"id": "sink", "type": "test.collect", "params": {"key": "j"}}],
        ["fast.out -> join.a", "slow.out -> join.b", "join.out -> sink.in"],
    )
    for ex in EXECUTORS:
        COLLECTED.clear()
        run(g, ex)
        got = [p for _, p in COLLECTED["j"]]
        assert len(got) == 330
        # at every 100 ms boundary the fast packet (input a) precedes the slow one (b)
        idx = [i for i, (port, t0, _) in enumerate(got) if port == "b"]
        for i in idx:
            assert got[i - 1][0] == "a" and got[i - 1][1] == got[i][1]
        assert [(t, "ab".index(p)) for p, t, _ in got] == sorted((t, "ab".index(p)) for p, t, _ in got)


@pytest.mark.parametrize("executor", EXECUTORS)
def test_watermarks_keep_join_queues_short(tmp_path: Path, executor: str) -> None:
    # Small capacities from the source keep both branches in lockstep (neither thread can
    # run more than a few packets ahead), so what the join must hold depends only on the
    # quiet branch's promises: ~50 packets without them, a handful with them.
    depth, results = {}, {}
    for wm in (False, True):
        g = write_graph(
            tmp_path / "wm.json",
            [{"id": "src", "type": "test.count", "params": {"count": 400}},
             {"id": "quiet", "type": "test.filter", "params": {"every": 50, "watermark": wm}},
             {"id": "a", "type": "util.passthrough"},
             {"id": "join", "type": "test.join3"},
             {"id": "sink", "type": "test.collect", "params": {"key": f"wm{wm}"}}],
            [{"from": "src.out", "to": "a.in", "capacity": 2}, {"from": "src.out", "to": "quiet.in", "capacity": 2},
             {"from": "a.out", "to": "join.a", "capacity": 16}, {"from": "quiet.out", "to": "join.b", "capacity": 16},
             "join.out -> sink.in"],
        )
        m = run(g, executor)
        depth[wm] = m.edges["a.out -> join.a"]
        results[wm] = COLLECTED[f"wm{wm}"]
    assert results[True] == results[False]  # promises change when, not what
    if executor == "inline":
        assert depth[False].max_depth >= 49 and depth[True].max_depth <= 4
    else:
        # without promises the join must grow past its capacity (not deadlock); with them it never has to
        assert depth[False].overflows > 0 and depth[True].overflows == 0


def test_latest_policy_does_not_wait(tmp_path: Path) -> None:
    g = write_graph(
        tmp_path / "latest.json",
        [{"id": "main", "type": "test.count", "params": {"count": 50, "rate": 100}},
         {"id": "ctx", "type": "test.count", "params": {"count": 5, "rate": 10}},
         {"id": "join", "type": "test.latest_join"},
         {"id": "sink", "type": "test.collect", "params": {"key": "l"}}],
        ["main.out -> join.main", "ctx.out -> join.ctx", "join.out -> sink.in"],
    )
    run(g, "inline")
    got = [p for _, p in COLLECTED["l"]]
    assert [m for m, _ in got] == list(range(50))
    # context is the newest value seen so far (sources read in media-time order)
    assert got[-1][1] == 4


@pytest.mark.parametrize("executor", EXECUTORS)
def test_bounded_queues_bound_memory(tmp_path: Path, executor: str) -> None:
    # 2000 packets of 64 KB = 128 MB if anything buffered the whole stream
    g = write_graph(
        tmp_path / "mem.json",
        [{"id": "src", "type": "test.count", "params": {"count": 2000, "payload_kb": 64}},
         {"id": "mid", "type": "util.passthrough"},
         {"id": "sink", "type": "test.collect", "params": {"key": "m", "sleep_ms": 0.2}}],
        [{"from": "src.out", "to": "mid.in", "capacity": 8}, {"from": "mid.out", "to": "sink.in", "capacity": 8}],
    )
    tracemalloc.start()
    try:
        m = run(g, executor)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(COLLECTED["m"]) == 2000
    assert peak < 8 * 2**20, f"peak {peak / 2**20:.1f} MiB"
    for label, e in m.edges.items():
        assert e.max_depth <= 8 and e.overflows == 0 and e.drops == 0, label


def test_threaded_join_without_watermarks_cannot_deadlock(tmp_path: Path) -> None:
    g = write_graph(
        tmp_path / "dl.json",
        [{"id": "src", "type": "test.count", "params": {"count": 400}},
         {"id": "a", "type": "util.passthrough"},
         {"id": "lag", "type": "test.sparse", "params": {"every": 50}},
         {"id": "join", "type": "test.join3"},
         {"id": "sink", "type": "test.collect", "params": {"key": "d"}}],
        [{"from": "src.out", "to": "a.in", "capacity": 4}, {"from": "src.out", "to": "lag.in", "capacity": 4},
         {"from": "a.out", "to": "join.a", "capacity": 4}, {"from": "lag.out", "to": "join.b", "capacity": 4},
         "join.out -> sink.in"],
    )
    m = run(g, "threaded")
    assert len(COLLECTED["d"]) == 408
    # the join had to hold more than 4 packets of input a while waiting for b
    assert m.edges["a.out -> join.a"].overflows > 0


def test_live_overload_policy_drops_and_counts(tmp_path: Path) -> None:
    g = write_graph(
        tmp_path / "live.json",
        [{"id": "mic", "type": "test.live_count", "params": {"count": 300, "sleep_ms": 0.1}},
         {"id": "sink", "type": "test.collect", "params": {"key": "live", "sleep_ms": 2}}],
        [{"from": "mic.out", "to": "sink.in", "capacity": 4, "policy": "drop_oldest"}],
    )
    m = run(g, "threaded")
    drops = m.edges["mic.out -> sink.in"].drops
    assert drops > 0 and len(COLLECTED["live"]) + drops == 300
    got = [p for _, p in COLLECTED["live"]]
    assert got == sorted(got) and got[-1] == 299  # oldest dropped, newest kept


@pytest.mark.parametrize("executor", EXECUTORS)
def test_failing_node_stops_run_after_sinks_flush(tmp_path: Path, executor: str) -> None:
    g = write_graph(
        tmp_path / "fail.json",
        [{"id": "src", "type": "test.count", "params": {"count": 1000}},
         {"id": "bad", "type": "test.fail", "params": {"at": 50}},
         {"id": "sink", "type": "test.collect", "params": {"key": "f"}},
         {"id": "other", "type": "test.collect", "params": {"key": "o"}}],
        ["src.out -> bad.in", "bad.out -> sink.in", "src.out -> other.in"],
    )
    with pytest.raises(NodeError) as info:
        run(g, executor)
    err = info.value
    assert err.node_id == "bad" and err.media_time == pytest.approx(0.49)
    assert "bad packet 49" in str(err) and "node 'bad' failed at media time 0.490 s" in str(err)
    assert [p for _, p in COLLECTED["f"]] == list(range(49))
    assert FLUSHED.get("f") and FLUSHED.get("o")
    assert len(COLLECTED["o"]) < 1000  # the sources stopped


def test_failure_in_flush_is_reported(tmp_path: Path) -> None:
    g = write_graph(
        tmp_path / "ff.json",
        [{"id": "src", "type": "test.count", "params": {"count": 10}},
         {"id": "bad", "type": "test.fail", "params": {"where": "flush"}},
         {"id": "sink", "type": "test.collect", "params": {"key": "ff"}}],
        ["src.out -> bad.in", "bad.out -> sink.in"],
    )
    for ex in EXECUTORS:
        with pytest.raises(NodeError, match="node 'bad' failed: RuntimeError: flush failed"):
            run(g, ex)
        assert FLUSHED.get("ff")


def test_stop_request_flushes(tmp_path: Path) -> None:
    g = write_graph(
        tmp_path / "stop.json",
        [{"id": "src", "type": "test.count", "params": {"count": 100000, "sleep_ms": 0.05}},
         {"id": "sparse", "type": "test.sparse", "params": {"every": 1000}},
         {"id": "sink", "type": "test.collect", "params": {"key": "st"}}],
        ["src.out -> sparse.in", "sparse.out -> sink.in"],
    )
    import threading

    for ex in EXECUTORS:
        ctx = RunContext()
        threading.Timer(0.3, ctx.stop.set).start()
        m = run_graph(load_graph(g), ctx, ex)
        assert m.interrupted and FLUSHED.get("st")
        assert 0 < m.media_s < 1000
        FLUSHED.clear()


def test_metrics_report_every_node_and_edge(tmp_path: Path) -> None:
    m = run(_merge_graph(tmp_path), "inline")
    js = m.to_json()
    assert set(js["nodes"]) == {"src", "double", "sparse", "burst", "join", "sink"}
    for stats in js["nodes"].values():
        assert stats["timed_calls"] > 0 and stats["time_ms"]["p95"] >= stats["time_ms"]["p50"] >= 0
    assert "double.out -> join.a" in js["edges"]


def test_trace_file_is_valid_chrome_trace(tmp_path: Path) -> None:
    import json

    from pipeline.trace import TraceWriter

    g = _merge_graph(tmp_path)
    for ex in EXECUTORS:
        path = tmp_path / f"trace-{ex}.json"
        run_graph(load_graph(g), RunContext(), ex, TraceWriter(path))
        events = json.loads(path.read_text())
        names = {e["name"] for e in events if e["ph"] == "X"}
        assert names == {"src", "double", "sparse", "burst", "join", "sink"}
        assert all(e["dur"] >= 0 for e in events if e["ph"] == "X")


@pytest.mark.parametrize("executor", EXECUTORS)
def test_watermarks_pass_through_a_node_that_gets_no_packets(tmp_path: Path, executor: str) -> None:
    # A quiet branch's promises must cross a lagged node even while no packet reaches it
    # (an array branch standing aside for mono input): else the join below holds everything.
    g = write_graph(
        tmp_path / "wm_pass.json",
        [{"id": "src", "type": "test.count", "params": {"count": 400}},
         {"id": "quiet", "type": "test.filter", "params": {"every": 1000, "watermark": True}},
         {"id": "lagged", "type": "test.scale"},
         {"id": "a", "type": "util.passthrough"},
         {"id": "join", "type": "test.join3"},
         {"id": "sink", "type": "test.collect", "params": {"key": "wm_pass"}}],
        [{"from": "src.out", "to": "a.in", "capacity": 2}, {"from": "src.out", "to": "quiet.in", "capacity": 2},
         {"from": "quiet.out", "to": "lagged.in", "capacity": 2},
         {"from": "a.out", "to": "join.a", "capacity": 16}, {"from": "lagged.out", "to": "join.b", "capacity": 16},
         "join.out -> sink.in"],
    )
    m = run(g, executor)
    assert len(COLLECTED["wm_pass"]) >= 1
    e = m.edges["a.out -> join.a"]
    assert e.overflows == 0 and e.max_depth <= 16


def test_nodes_know_which_outputs_have_consumers(tmp_path: Path) -> None:
    # Nodes skip work nobody receives (speaker.embedding's whole-segment embeddings).
    from pipeline.executors.inline import InlineExecutor

    g = write_graph(
        tmp_path / "g.json",
        [{"id": "src", "type": "test.count", "params": {"count": 3}},
         {"id": "scale", "type": "test.scale"}],
        ["src.out -> scale.in"],
    )
    ex = InlineExecutor(load_graph(g), RunContext())
    ex.build()
    assert ex.nodes["src"].wired == {"out"}
    assert ex.nodes["scale"].wired == frozenset()
