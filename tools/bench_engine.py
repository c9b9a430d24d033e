#!/usr/bin/env python3
"""Per-hop overhead of the engine against its peers, measured side by side in one run.

A chain of HOPS pass-through stages carries N packets of 20 ms audio (320 samples at
16 kHz) from a source to a sink. Each contender runs the chain twice, with HOPS stages and
with none; the difference divided by N * HOPS is the cost of one hop, so the cost of the
source, the sink and the loop cancels out. Contenders:

* floor     - plain Python function calls, each stage a function that calls the next
              (the push-style call chain that reactivex and the inline executor are);
* loop      - a flat loop calling HOPS identity functions per packet (stricter still: no
              stage hands anything on, the loop does);
* reactivex - ``Subject`` with HOPS ``ops.map`` stages (the stream library diart uses);
* inline    - meetflow's inline executor, HOPS ``util.passthrough`` nodes;
* threaded  - meetflow's threaded executor (one thread per node, bounded queues).

Targets (issue 2): inline within 3x of the floor and no slower than reactivex; threaded
under 50 us per hop. Run:  python tools/bench_engine.py [--packets 100000] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline import AudioBlock, Out, Packet, RunContext, Source, build_graph, run_graph  # noqa: E402


def make_packets(n: int) -> list[Packet]:
    block = np.zeros((320, 1), dtype=np.float32)
    return [Packet(i / 50, (i + 1) / 50, AudioBlock(block, 16000, i * 320)) for i in range(n)]


PACKETS: list[Packet] = []


class ListSource(Source):
    """Emits the pre-built packets (so packet creation is not part of the measurement)."""

    type_name = "bench.list_source"
    outputs = {"out": Out(AudioBlock)}

    def open(self) -> None:
        self._it = iter(PACKETS)
        self.duration = len(PACKETS) / 50

    def read(self) -> bool:
        p = next(self._it, None)
        if p is None:
            return False
        self.position = p.t1
        self.emit("out", p)
        return True


def meetflow_chain(hops: int, executor: str) -> Callable[[], None]:
    nodes: list[dict[str, Any]] = [{"id": "src", "type": "bench.list_source"}]
    edges = []
    prev = "src.out"
    for i in range(hops):
        nodes.append({"id": f"p{i}", "type": "util.passthrough"})
        edges.append({"from": prev, "to": f"p{i}.in", "capacity": 256})
        prev = f"p{i}.out"
    nodes.append({"id": "sink", "type": "util.null_sink"})
    edges.append({"from": prev, "to": "sink.in", "capacity": 256})
    graph = build_graph({"meetflow": 1, "name": "chain", "nodes": nodes, "edges": edges}, {})

    def run() -> None:
        run_graph(graph, RunContext(), executor)

    return run


def floor_chain(hops: int) -> Callable[[], None]:
    def sink(x: Packet) -> None:
        pass

    def stage(nxt: Callable[[Packet], None]) -> Callable[[Packet], None]:
        def call(x: Packet) -> None:
            nxt(x)

        return call

    head = sink
    for _ in range(hops):
        head = stage(head)

    def run() -> None:
        for p in PACKETS:
            head(p)

    return run


def loop_chain(hops: int) -> Callable[[], None]:
    def identity(x: Packet) -> Packet:
        return x

    stages = [identity] * hops

    def sink(x: Packet) -> None:
        pass

    def run() -> None:
        for p in PACKETS:
            x = p
            for f in stages:
                x = f(x)
            sink(x)

    return run


def rx_chain(hops: int) -> Callable[[], None]:
    from reactivex import operators as ops
    from reactivex.subject import Subject

    def run() -> None:
        subject: Subject = Subject()
        stream: Any = subject
        if hops:
            stream = subject.pipe(*[ops.map(lambda x: x) for _ in range(hops)])
        stream.subscribe(lambda x: None)
        on_next = subject.on_next
        for p in PACKETS:
            on_next(p)
        subject.on_completed()

    return run


def best_time(fn: Callable[[], None], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def per_hop_us(make: Callable[[int], Callable[[], None]], hops: int, n: int, repeat: int) -> float:
    full, empty = make(hops), make(0)
    # interleave so that machine noise hits both alike
    t_full = min(best_time(full, 1) for _ in range(repeat))
    t_empty = min(best_time(empty, 1) for _ in range(repeat))
    return (t_full - t_empty) / (n * hops) * 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packets", type=int, default=100_000)
    ap.add_argument("--threaded-packets", type=int, default=20_000)
    ap.add_argument("--hops", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()

    global PACKETS
    PACKETS = make_packets(args.packets)
    n, hops, rep = args.packets, args.hops, args.repeat
    results = {
        "floor": per_hop_us(floor_chain, hops, n, rep),
        "loop": per_hop_us(loop_chain, hops, n, rep),
        "reactivex": per_hop_us(rx_chain, hops, n, rep),
        "inline": per_hop_us(lambda h: meetflow_chain(h, "inline"), hops, n, rep),
    }
    PACKETS = make_packets(args.threaded_packets)
    threaded = [per_hop_us(lambda h: meetflow_chain(h, "threaded"), hops, args.threaded_packets, 1) for _ in range(max(rep // 2, 2))]
    results["threaded"] = statistics.median(threaded)

    ratios = {
        "inline_vs_floor": results["inline"] / results["floor"],
        "inline_vs_loop": results["inline"] / results["loop"],
        "inline_vs_reactivex": results["inline"] / results["reactivex"],
    }
    verdict = {
        "inline <= 3x floor": ratios["inline_vs_floor"] <= 3.0,
        "inline <= reactivex": ratios["inline_vs_reactivex"] <= 1.0,
        "threaded < 50 us/hop": results["threaded"] < 50.0,
    }
    print(f"per-hop overhead, {hops} pass-through hops, 20 ms blocks ({n} packets; threaded {args.threaded_packets})")
    for name, us in results.items():
        print(f"  {name:<10} {us:8.3f} us/hop")
    print(f"  inline / floor     = {ratios['inline_vs_floor']:.2f}x   (target <= 3)")
    print(f"  inline / loop      = {ratios['inline_vs_loop']:.2f}x   (for reference: a flat loop is no dataflow)")
    print(f"  inline / reactivex = {ratios['inline_vs_reactivex']:.2f}x   (target <= 1)")
    for k, ok in verdict.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {k}")
    if args.json:
        Path(args.json).write_text(json.dumps({"us_per_hop": results, "ratios": ratios, "pass": verdict}, indent=2))
    return 0 if all(verdict.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
