#!/usr/bin/env python3
"""Whole-meeting benchmark: graphs/meeting.json on simulated array meetings, scored as a reader meets the transcript.

Each meeting (90 s, 3-4 talkers, two of them walking, circular7: the diarisation bench's
simulator and seeds, so the two benches can share a ``--work`` folder) is transcribed by the
meeting graph as ``meetflow run`` does it, once per mode, and scored against the simulator's
reference:

* **cpWER / tcpWER** (MeetEval; tcpWER with a 5 s collar): words, their talkers and times.
* **WER** with talkers ignored (every segment of both sides under one name, scored as cpWER):
  what recognition alone gets wrong; cpWER minus this is what speaker attribution costs.
* **DER of transcript.rttm** (the turns the transcript's words make, collar +-0.25 s).
* **Words without duration**: final words the second pass could not place in time.

Modes, side by side in one run: ``meeting`` (the graph as shipped) and ``meeting-noguard``
(``asr.hec`` with ``tail_decodes`` 0 and ``spill_s`` unbounded: no second decode of a
segment's untranscribed tail, no cut of words heard in the left context; the second pass as
it was before those guards). Totals weigh every word alike (errors over reference words of
all meetings); DER is the mean over meetings.

Run:  python tools/bench_meeting.py --first 197 --meetings 16 --work /tmp/meetflow_bench_dz5 [--jobs 2] [--json FILE]
(about 40 s of CPU per meeting and mode on this machine's cores).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

#: Mode name -> parameters of the ``asr`` node (asr.hec) changed from the shipped graph.
MODES: dict[str, dict[str, Any]] = {
    "meeting": {},
    "meeting-noguard": {"tail_decodes": 0, "spill_s": 1e9},
}


def transcribe(wav: str, out: str, asr: dict[str, Any], threads: int) -> None:
    """Run graphs/meeting.json over ``wav`` into ``out`` with the ``asr`` node's parameters changed by ``asr``."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from pipeline import RunContext, load_graph, run_graph

    graph = load_graph(ROOT / "graphs" / "meeting.json", {"input": wav, "out": out, "console": False})
    params = graph.nodes["asr"].params
    params.threads = threads
    for k, v in asr.items():
        setattr(params, k, v)
    run_graph(graph, RunContext(out_dir=Path(out), quiet=True), "inline")


def one_speaker(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every segment under one name (WER with talkers ignored)."""
    return [{**r, "speaker": "all"} for r in rows]


def score(folder: Path, out: Path) -> dict[str, Any]:
    """The transcript in ``out`` against the reference in ``folder``."""
    from nodes.speaker.evaluate import der, read_rttm, transcript_wer

    ref = json.loads((folder / "reference.seglst.json").read_text())
    hyp = json.loads((out / "transcript.seglst.json").read_text())
    w = transcript_wer(ref, hyp)
    plain = transcript_wer(one_speaker(ref), one_speaker(hyp))["cpwer"]
    ref_turns = read_rttm(folder / "reference.rttm")
    turns = read_rttm(out / "transcript.rttm") or {k: [] for k in ref_turns}  # nothing transcribed: every second missed
    d = der(ref_turns, turns, collar=0.5)
    undated = sum(1 for s in hyp for x in s.get("word_times", []) if x[2] - x[1] < 1e-3)
    return {"cp_errors": w["cpwer"]["errors"], "tcp_errors": w["tcpwer"]["errors"], "plain_errors": plain["errors"],
            "words": w["cpwer"]["length"], "der": d.der, "undated": undated}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--first", type=int, default=1, help="seed of the first meeting (default 1)")
    ap.add_argument("--meetings", type=int, default=8, help="how many meetings (default 8)")
    ap.add_argument("--duration", type=float, default=90.0, help="length of each meeting, s (default 90)")
    ap.add_argument("--work", type=Path, help="folder of the simulated meetings, simN/ (kept; default: a temporary folder)")
    ap.add_argument("--jobs", type=int, default=1, help="transcriptions run at once (each with one Whisper thread when more than 1)")
    ap.add_argument("--json", type=Path, help="write every number here")
    args = ap.parse_args()
    if args.meetings < 1 or args.jobs < 1:
        ap.error("--meetings and --jobs must be at least 1")

    from bench_diarization import simulate

    # With every talker under one name (``one_speaker``) overlapping turns overlap within one
    # "speaker", which MeetEval warns about on every call.
    for name in ("error_rate", "preprocess"):
        logging.getLogger(name).setLevel(logging.ERROR)
    work = args.work or Path(tempfile.mkdtemp(prefix="meetflow_bench_meeting_"))
    seeds = list(range(args.first, args.first + args.meetings))
    for i in seeds:
        simulate(work / f"sim{i}", i, 3 + i % 2, args.duration)
    threads = 1 if args.jobs > 1 else 2
    runs = [(i, mode) for i in seeds for mode in MODES]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {(i, mode): pool.submit(transcribe, str(work / f"sim{i}" / "meeting.wav"), str(work / f"sim{i}" / "bench_meeting" / mode),
                                          MODES[mode], threads) for i, mode in runs}
        for f in futures.values():
            f.result()
    rows = {mode: {i: score(work / f"sim{i}", work / f"sim{i}" / "bench_meeting" / mode) for i in seeds} for mode in MODES}

    def pct(e: float, n: float) -> str:
        return f"{100 * e / max(n, 1):5.1f}%"

    print(f"{'meeting':<10}" + "".join(f"{m + ' cpWER':>22}{'tcpWER':>8}{'WER':>7}{'DER':>7}{'undated':>8}" for m in MODES))
    for i in seeds:
        line = f"sim{i:<7}"
        for m in MODES:
            r = rows[m][i]
            line += f"{pct(r['cp_errors'], r['words']):>22}{pct(r['tcp_errors'], r['words']):>8}{pct(r['plain_errors'], r['words']):>7}" \
                    f"{100 * r['der']:6.1f}%{r['undated']:>8}"
        print(line)
    summary: dict[str, Any] = {}
    for m in MODES:
        rs = list(rows[m].values())
        n = sum(r["words"] for r in rs)
        summary[m] = {"cpwer": sum(r["cp_errors"] for r in rs) / n, "tcpwer": sum(r["tcp_errors"] for r in rs) / n,
                      "wer": sum(r["plain_errors"] for r in rs) / n, "der": sum(r["der"] for r in rs) / len(rs),
                      "undated": sum(r["undated"] for r in rs), "reference_words": n}
        s = summary[m]
        print(f"{m:<20} cpWER {100 * s['cpwer']:.2f}%  tcpWER {100 * s['tcpwer']:.2f}%  WER {100 * s['wer']:.2f}%  "
              f"transcript DER {100 * s['der']:.2f}%  undated words {s['undated']}  ({n} reference words, {len(rs)} meetings)")
    if args.json:
        args.json.write_text(json.dumps({"meetings": seeds, "work": str(work), "summary": summary,
                                         "per_meeting": {m: {str(i): r for i, r in rows[m].items()} for m in MODES}}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
