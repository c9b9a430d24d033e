#!/usr/bin/env python3
"""How soon speaker labels come in the whole meeting graph, run live: the recogniser, DOA and the rest on the same cores.

``tools/bench_diarization.py`` times the labels from the diariser's own work (each call's CPU
laid on a real-time clock); what the rest of a live graph takes from the same cores is left
out there. Here ``graphs/meeting.json`` runs over a simulated meeting's recording paced to the
wall clock (``meetflow run --realtime -e threaded``, as a live array meets it), and every turn
that reaches the turn writer is stamped with the wall time it came. Reported per meeting:

* **delay**: for each reference turn (after 0.5 s or more of its talker's silence), when its
  first label came minus when its first sample was said (the wall time the paced recording
  reached it), the bench's measure of the target "labels within 1 s of speech"; p50, p90,
  the most, and how many came later than 1 s;
* **label_s** (``metrics.json``): per stretch, how long after its last sample its label came;
* the recogniser's own latency (``final_s``, ``first_partial_s``) in the same run: what the
  speaker branch's share of the cores costs the words, when a setting moves one against the other;
* the run's speed against real time (under 1: the graph did not keep up, and every delay
  grows with the backlog) and the DER of the final labels, as a check that the run was whole.

The meetings are the diarisation bench's (``--work``/sim<seed>/meeting.wav and reference.rttm,
simulated by that bench first). Each takes its own length in wall time.

Run:  python tools/live_labels.py --work /tmp/meetflow_bench_dz --first 1 --meetings 3 [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))


def run_live(wav: Path, out: Path, graph_path: Path, changes: dict[str, dict[str, Any]]) -> tuple[list[tuple[float, Any]], float,
                                                                                                 dict[str, Any]]:
    """Run the graph over ``wav`` paced to the wall clock, with ``changes`` (node id -> parameters) made: (every turn as it
    reached the turn writer, with its wall time; the wall time the recording started; metrics.json)."""
    from nodes.speaker.turns_writer import TurnsWriter
    from pipeline import RunContext, load_graph, run_graph

    graph = load_graph(graph_path, {"input": str(wav), "out": str(out), "console": False})
    for node, params in changes.items():
        if node not in graph.nodes:
            raise SystemExit(f"live_labels: --param: the graph has no node {node!r} (its nodes: {', '.join(graph.nodes)})")
        for name, value in params.items():
            if name not in type(graph.nodes[node].params).model_fields:
                raise SystemExit(f"live_labels: --param: node {node!r} has no parameter {name!r}")
            setattr(graph.nodes[node].params, name, value)
    arrived: list[tuple[float, Any]] = []
    original = TurnsWriter.process

    def stamped(self: TurnsWriter, port: str, packet: Any) -> None:
        arrived.append((time.time(), packet.payload))
        original(self, port, packet)

    TurnsWriter.process = stamped  # type: ignore[method-assign]
    try:
        context = RunContext(out_dir=out, realtime=True, quiet=True)
        metrics = run_graph(graph, context, "threaded")
    finally:
        TurnsWriter.process = original  # type: ignore[method-assign]
    return arrived, context.clock.start_wall, metrics.to_json()


def label_delays(arrived: list[tuple[float, Any]], start: float, ref: list[tuple[float, float, str]]) -> tuple[list[Any], np.ndarray]:
    """(the final turns, each reference turn's delay): a label that came at wall time W came when a live array had
    reached media time W - ``start``; a reference turn's delay is its first label's minus its onset (``bench.delays``)."""
    import bench_diarization as bench

    newest: dict[str, Any] = {}
    first: dict[str, float] = {}
    for wall, turn in arrived:
        first.setdefault(turn.turn_id, wall - start)
        if turn.turn_id not in newest or turn.revision >= newest[turn.turn_id].revision:
            newest[turn.turn_id] = turn
    turns = list(newest.values())
    return turns, np.array(bench.delays(ref, turns, first))


def parse_changes(items: list[str]) -> dict[str, dict[str, Any]]:
    """``--param NODE.NAME=VALUE`` items as node id -> {parameter: value} (values read as ``meetflow run --set`` reads them)."""
    from pipeline.variables import parse_value

    changes: dict[str, dict[str, Any]] = {}
    for item in items:
        key, eq, text = item.partition("=")
        node, dot, name = key.partition(".")
        if not (eq and dot and node and name):
            raise ValueError(f"--param {item!r}: expected NODE.NAME=VALUE")
        changes.setdefault(node, {})[name] = parse_value(text)
    return changes


def score(folder: Path, graph_path: Path, changes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from nodes.speaker.evaluate import der, read_rttm

    ref = read_rttm(folder / "reference.rttm")
    flat = next(iter(ref.values()))
    with tempfile.TemporaryDirectory() as tmp:
        arrived, start, metrics = run_live(folder / "meeting.wav", Path(tmp), graph_path, changes)
    turns, delays = label_delays(arrived, start, flat)
    result = der(ref, {"meeting": [(t.t0, t.t1, t.speaker) for t in turns if t.t1 > t.t0]}, collar=0.5)
    lat = metrics["latency"]
    return {"meeting": folder.name, "turns": len(delays), "p50": float(np.median(delays)), "p90": float(np.percentile(delays, 90)),
            "max": float(delays.max()), "over_1s": int((delays > 1.0).sum()), "label_s": lat.get("label_s", {}),
            "final_s": lat.get("final_s", {}), "first_partial_s": lat.get("first_partial_s", {}),
            "speed": metrics["run"]["speed_x_realtime"], "der": result.der, "delays": delays.round(3).tolist()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", required=True, help="the diarisation bench's --work folder, holding sim<seed>/meeting.wav")
    ap.add_argument("--first", type=int, default=1, help="seed of the first meeting")
    ap.add_argument("--meetings", type=int, default=3)
    ap.add_argument("--graph", default=str(ROOT / "graphs" / "meeting.json"))
    ap.add_argument("--param", action="append", default=[], metavar="NODE.NAME=VALUE",
                    help="change a node's parameter for the run (value parsed as JSON when it parses), e.g. asr.threads=1")
    ap.add_argument("--json", help="also write every meeting's figures (and each turn's delay) here")
    args = ap.parse_args()
    try:
        changes = parse_changes(args.param)
    except ValueError as exc:
        ap.error(str(exc))
    folders = [Path(args.work) / f"sim{s}" for s in range(args.first, args.first + args.meetings)]
    missing = [f for f in folders if not (f / "meeting.wav").is_file() or not (f / "reference.rttm").is_file()]
    if missing:
        print(f"live_labels: {missing[0]} has no meeting.wav and reference.rttm: simulate it first (python "
              f"tools/bench_diarization.py --first {args.first} --meetings {args.meetings} --work {args.work} --no-ami)", file=sys.stderr)
        return 2
    rows = []
    for folder in folders:
        r = score(folder, Path(args.graph), changes)
        rows.append(r)
        lab, fin = r["label_s"], r["final_s"]
        print(f"{r['meeting']}: first label after a turn's onset p50 {r['p50']:.2f} s, p90 {r['p90']:.2f} s, at most {r['max']:.2f} s, "
              f"{r['over_1s']} of {r['turns']} later than 1 s; label_s p50 {lab.get('p50')} max {lab.get('max')}; "
              f"final text p50 {fin.get('p50')} max {fin.get('max')}; speed {r['speed']}x real time; DER {100 * r['der']:.2f}%",
              flush=True)
    d = np.concatenate([r["delays"] for r in rows])
    finals = [r["final_s"]["p50"] for r in rows if r["final_s"].get("p50") is not None]
    print(f"all: {len(d)} turns, p50 {np.median(d):.2f} s, p90 {np.percentile(d, 90):.2f} s, at most {d.max():.2f} s, "
          f"{int((d > 1.0).sum())} later than 1 s; final text p50 {np.mean(finals) if finals else float('nan'):.2f} s "
          "(the meetings' mean)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
