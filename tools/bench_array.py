#!/usr/bin/env python3
"""Microphone-array front end benchmark: cost of DOA + tracking, and accuracy on simulated meetings.

1. **Cost** (target: DOA + tracking <= 5% of real time on 2 cores, 7 channels at 16 kHz). The
   array branch of the meeting graph (array.mics -> array.stft -> array.doa -> array.tracker)
   and, as its peer, the same source alone (file reading and resampling, which the meeting
   graph pays anyway) run in one process, interleaved and repeated, over a simulated 7-channel
   meeting; the branch's cost is the difference of wall times per second of audio. CPU time
   (both cores) is reported beside it. A per-block breakdown compares the vectorised DOA with
   pyroomacoustics' own evaluation of the same algorithms (the peer for the DOA step).
2. **Accuracy** on simulated meetings (3-4 talkers, RT60 0.3-0.6 s, SNR 15-20 dB, circular7),
   some with walking talkers: median azimuth error of static and of walking talkers (targets
   <= 5 and <= 10 degrees), tracks against the raw DOA peaks (tracking must lower the error),
   and track ids across silences (target: no breaks across silences up to 10 s).
3. **array_sim_4mic** (../shared/data, known directions; skipped when absent): DOA on the two
   simulated 4-mic recordings.

Run:  python tools/bench_array.py [--meetings 6] [--duration 90] [--repeat 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline import RunContext, build_graph, run_graph  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "array_sim_4mic"
if not SHARED.exists():
    SHARED = Path("/work/shared/data/array_sim_4mic")


def _graph(path: Path, array: str = "circular7", branch: bool = True, doa_out: Path | None = None, tracks_out: Path | None = None,
           **doa: Any) -> Any:
    nodes: list[dict[str, Any]] = [{"id": "source", "type": "io.audio_file", "params": {"path": str(path), "rate": 16000, "block_ms": 20}}]
    edges: list[Any] = []
    if branch:
        nodes += [{"id": "mics", "type": "array.mics", "params": {"array": array}}, {"id": "stft", "type": "array.stft"},
                  {"id": "doa", "type": "array.doa", "params": doa}, {"id": "tracker", "type": "array.tracker"}]
        edges += ["source.audio -> mics.audio", "mics.audio -> stft.audio", "stft.spectrum -> doa.spectrum", "doa.directions -> tracker.directions"]
        if tracks_out:
            nodes.append({"id": "tracks", "type": "array.tracks_writer", "params": {"dir": str(tracks_out)}})
            edges.append("tracker.tracks -> tracks.tracks")
        else:
            nodes.append({"id": "sink", "type": "util.null_sink"})
            edges.append("tracker.tracks -> sink.in")
        if doa_out:
            nodes.append({"id": "doa_log", "type": "array.doa_writer", "params": {"dir": str(doa_out)}})
            edges.append("doa.directions -> doa_log.directions")
    else:
        nodes.append({"id": "sink", "type": "util.null_sink"})
        edges.append("source.audio -> sink.in")
    return build_graph({"meetflow": 1, "name": "bench-array", "nodes": nodes, "edges": edges}, {})


def _timed_run(graph: Any) -> tuple[float, float, float]:
    """(wall s, cpu s, media s) of one run."""
    c0, w0 = time.process_time(), time.perf_counter()
    m = run_graph(graph, RunContext(quiet=True))
    return time.perf_counter() - w0, time.process_time() - c0, m.media_s


def simulate(folder: Path, seed: int, talkers: int, walking: int, duration: float) -> Path:
    from nodes.sim.meeting import render, write_outputs
    from nodes.sim.scenario import MeetingConfig, generate

    out = folder / f"meeting-{seed}"
    if not (out / "scenario.json").exists():
        cfg = MeetingConfig(talkers=talkers, walking=walking, duration_s=duration, rt60=(0.3, 0.6), snr_db=(15.0, 20.0), array="circular7")
        write_outputs(render(generate(cfg, seed)), out)
    return out


# -- 1. cost ---------------------------------------------------------------------------------------
def bench_cost(wav: Path, repeat: int) -> dict[str, Any]:
    runs: dict[str, list[tuple[float, float, float]]] = {"source": [], "branch": []}
    _timed_run(_graph(wav))  # warm-up: imports, caches
    for _ in range(repeat):
        for name, branch in (("source", False), ("branch", True)):
            runs[name].append(_timed_run(_graph(wav, branch=branch)))
    media = runs["branch"][0][2]
    # Other work shares this machine: the minimum of the interleaved runs is the usual estimate of
    # the uncontended time; medians are reported beside it.
    wall = {k: min(r[0] for r in v) for k, v in runs.items()}
    cpu = {k: min(r[1] for r in v) for k, v in runs.items()}
    wall_med = {k: statistics.median(r[0] for r in v) for k, v in runs.items()}
    share_wall = (wall["branch"] - wall["source"]) / media
    share_cpu = (cpu["branch"] - cpu["source"]) / media
    share_med = (wall_med["branch"] - wall_med["source"]) / media
    return {"media_s": media, "wall_s": wall, "cpu_s": cpu, "wall_median_s": wall_med, "branch_share_of_real_time": round(share_wall, 4),
            "branch_share_median_runs": round(share_med, 4), "branch_cpu_share": round(share_cpu, 4),
            "load_average": os.getloadavg()[0], "pass": share_wall <= 0.05}


def bench_blocks(wav: Path, repeat: int) -> dict[str, Any]:
    """Per-block cost of each step, vectorised DOA against pyroomacoustics' own evaluation."""
    import numpy as np
    import soundfile as sf

    from nodes.array.doa import DirectionFinder
    from nodes.array.geometry import PRESETS
    from nodes.array.stft import StreamingStft
    from nodes.array.tracking import AzimuthTracker

    x, _ = sf.read(str(wav), dtype="float32", frames=16000 * 20)
    g = PRESETS["circular7"]
    t = time.perf_counter()
    for _ in range(repeat):
        st = StreamingStft()
        for i in range(0, len(x), 320):
            st.process(x[i : i + 320], i)
    stft_ms_per_s = 1000 * (time.perf_counter() - t) / repeat / (len(x) / 16000)
    _, X = StreamingStft().process(x, 0)
    blocks = [X[i : i + 10] for i in range(0, len(X) - 10, 10)]
    out: dict[str, Any] = {"stft_ms_per_audio_s": round(stft_ms_per_s, 2), "doa_ms_per_block": {}}
    for algo in ("normmusic", "srp", "music", "tops"):
        row = {}
        for backend in ("vectorised", "pyroomacoustics"):
            if algo == "tops" and backend == "vectorised":
                continue
            d = DirectionFinder(g, 16000, 512, algo, num_sources=2, backend=backend)
            d.estimate(blocks[0])
            use = blocks[: 12 if algo == "tops" else len(blocks)]
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                for b in use:
                    d.estimate(b)
                times.append((time.perf_counter() - t) / len(use))
            row[backend] = round(1000 * statistics.median(times), 2)
        if "vectorised" in row:
            row["ratio"] = round(row["vectorised"] / row["pyroomacoustics"], 3)
        out["doa_ms_per_block"][algo] = row
    tr = AzimuthTracker()
    rng = np.random.default_rng(0)
    tr.update(0.0, np.array([40.0]), np.array([0.9]), 1.0)  # warm-up: imports
    t = time.perf_counter()
    n = 2000
    for i in range(1, n + 1):
        tr.update(i * 0.16, np.array([40 + rng.normal(0, 3), -100 + rng.normal(0, 3)]), np.array([0.9, 0.7]), 1.0)
    out["tracker_ms_per_block"] = round(1000 * (time.perf_counter() - t) / n, 3)
    blocks_per_s = 16000 / 256 / 10
    out["doa_plus_tracking_share_estimate"] = round((out["doa_ms_per_block"]["normmusic"]["vectorised"] + out["tracker_ms_per_block"])
                                                    * blocks_per_s / 1000 + stft_ms_per_s / 1000, 4)
    return out


# -- 2. accuracy -----------------------------------------------------------------------------------
def bench_accuracy(folder: Path, meetings: int, duration: float) -> dict[str, Any]:
    from nodes.array.evaluate import DOA_KEYS, TRACK_KEYS, TRUTH_KEYS, read_jsonl, score
    from nodes.sim.scenario import Scenario

    plan = [(100 + k, 3 + (k % 2), 0 if k % 2 == 0 else 1 + (k // 2) % 2) for k in range(meetings)]  # static / walking alternate
    rows, per_talker = [], []
    for seed, talkers, walking in plan:
        t = time.perf_counter()
        sim = simulate(folder, seed, talkers, walking, duration)
        sim_s = time.perf_counter() - t
        out = folder / f"out-{seed}"
        run_graph(_graph(sim / "meeting.wav", doa_out=out, tracks_out=out), RunContext(quiet=True))
        sc = Scenario.model_validate_json((sim / "scenario.json").read_text())
        walkers = {tk.id for tk in sc.talkers if tk.walking}
        truth = read_jsonl(sim / "truth_azimuth.jsonl", TRUTH_KEYS)
        res = score(truth, read_jsonl(out / "tracks.jsonl", TRACK_KEYS), read_jsonl(out / "doa.jsonl", DOA_KEYS))
        rows.append({"seed": seed, "talkers": talkers, "walking": walking, "rt60": sc.room.rt60, "snr_db": sc.noise.snr_db,
                     "median_err": res.median_err, "raw_median_err": res.raw_median_err, "mean_err": res.mean_err, "raw_mean_err": res.raw_mean_err,
                     "tracked": res.tracked, "breaks": res.breaks, "simulate_s": round(sim_s, 1)})
        for ts in res.talkers:
            per_talker.append({"seed": seed, "speaker": ts.speaker, "walking": ts.speaker in walkers, "median_err": ts.median_err,
                               "raw_median_err": ts.raw_median_err, "mean_err": ts.mean_err, "raw_mean_err": ts.raw_mean_err,
                               "tracked": ts.tracked, "active_s": ts.active_s,
                               "returns": [{"gap_s": r.gap_s, "same_id": r.same_id, "moved_deg": r.moved_deg} for r in ts.returns],
                               "errors": None})
        print(f"  meeting {seed}: {talkers} talkers ({walking} walking), RT60 {sc.room.rt60} s, SNR {sc.noise.snr_db} dB: "
              f"median {res.median_err} deg (raw {res.raw_median_err}), mean {res.mean_err} (raw {res.raw_mean_err}), "
              f"tracked {100 * res.tracked:.1f}%, breaks {res.breaks}", flush=True)

    def med(key: str, walking: bool) -> float | None:
        vals = [p[key] for p in per_talker if p["walking"] == walking and p[key] is not None]
        return round(statistics.median(vals), 2) if vals else None

    static_med, walking_med = med("median_err", False), med("median_err", True)
    summary: dict[str, Any] = {
        "static": {"median_err": static_med, "raw_median_err": med("raw_median_err", False), "mean_err": med("mean_err", False),
                   "raw_mean_err": med("raw_mean_err", False), "talkers": sum(not p["walking"] for p in per_talker)},
        "walking": {"median_err": walking_med, "raw_median_err": med("raw_median_err", True), "mean_err": med("mean_err", True),
                    "raw_mean_err": med("raw_mean_err", True), "talkers": sum(p["walking"] for p in per_talker)},
    }
    rets = [(r, p["walking"]) for p in per_talker for r in p["returns"]]

    def count(sel: list) -> dict[str, int]:
        return {"returns": len(sel), "same_track": sum(r["same_id"] for r, _ in sel), "breaks": sum(not r["same_id"] for r, _ in sel)}

    short = [x for x in rets if x[0]["gap_s"] <= 10.0]
    summary["returns_after_silence_up_to_10s"] = {
        "all": count(short),
        "stayed_within_20deg": count([x for x in short if x[0]["moved_deg"] <= 20.0]),
        "static_talkers": count([x for x in short if not x[1]]),
        "walkers_moved_over_20deg": count([x for x in short if x[0]["moved_deg"] > 20.0]),
    }
    long_ = [x for x in rets if x[0]["gap_s"] > 10.0]
    summary["returns_after_silence_over_10s"] = {"all": count(long_), "stayed_within_20deg": count([x for x in long_ if x[0]["moved_deg"] <= 20.0])}
    summary["longest_silence_bridged_s"] = max((r["gap_s"] for r, _ in rets if r["same_id"]), default=0.0)
    tracked_lower = [(p["median_err"] <= p["raw_median_err"]) for p in per_talker if p["median_err"] is not None and p["raw_median_err"] is not None]
    summary["tracking_lowers_median_error_for"] = f"{sum(tracked_lower)}/{len(tracked_lower)} talkers"
    stayed = summary["returns_after_silence_up_to_10s"]["stayed_within_20deg"]
    summary["pass"] = {
        "static_median_le_5": static_med is not None and static_med <= 5.0,
        "walking_median_le_10": walking_med is not None and walking_med <= 10.0,
        "tracking_lowers_error": all(summary[k]["median_err"] < summary[k]["raw_median_err"] and summary[k]["mean_err"] < summary[k]["raw_mean_err"]
                                     for k in ("static", "walking") if summary[k]["median_err"] is not None),
        "no_breaks_across_silences_le_10s_when_talker_stayed": stayed["breaks"] == 0,
    }
    return {"meetings": rows, "talkers": per_talker, "summary": summary}


# -- 3. array_sim_4mic -----------------------------------------------------------------------------
def bench_shared(folder: Path) -> dict[str, Any] | None:
    if not SHARED.exists():
        print("array_sim_4mic: not present, skipped")
        return None
    import numpy as np

    from nodes.array.geometry import angle_diff

    meta = json.loads((SHARED / "geometry_and_doa.json").read_text())
    swapped = folder / "square-ch2-ch3-swapped.json"
    mics = meta["mics"]
    swapped.write_text(json.dumps({"name": "square, channels 2 and 3 swapped", "mics": [mics[0], mics[1], mics[3], mics[2]]}))
    results = []
    for name, u in meta["source_direction_unit_vectors"].items():
        truth = math.degrees(math.atan2(u[1], u[0]))
        row: dict[str, Any] = {"file": name, "truth_azimuth_deg": round(truth, 2), "elevation_deg": round(math.degrees(math.asin(u[2])), 1)}
        for label, geo in (("stated_geometry", SHARED / "geometry_and_doa.json"), ("channels_2_3_swapped", swapped)):
            out = folder / f"shared-{label}-{Path(name).stem}"
            run_graph(_graph(SHARED / name, array=str(geo), doa_out=out, tracks_out=out), RunContext(quiet=True))
            doa = [json.loads(line) for line in (out / "doa.jsonl").read_text().splitlines()]
            tops = [r["azimuth_deg"][0] for r in doa if r["activity"] >= 0.3 and r["azimuth_deg"]]
            errs = [abs(float(angle_diff(a, truth))) for a in tops]
            tracks = [json.loads(line) for line in (out / "tracks.jsonl").read_text().splitlines()]
            terr = [abs(float(angle_diff(t["azimuth_deg"], truth))) for t in tracks]
            row[label] = {"blocks": len(tops), "doa_median_err": round(float(np.median(errs)), 2) if errs else None,
                          "tracks": sorted({t["track_id"] for t in tracks}), "track_median_err": round(float(np.median(terr)), 2) if terr else None}
        results.append(row)
        print(f"  {name}: truth {truth:.1f} deg; stated geometry: DOA median error {row['stated_geometry']['doa_median_err']} deg; "
              f"channels 2/3 swapped: {row['channels_2_3_swapped']['doa_median_err']} deg", flush=True)
    return {"files": results, "note": "the stated mic order makes file 1's inter-mic delays physically impossible (the x-axis delay exceeds "
            "the 10 cm spacing); swapping channels 2 and 3 makes both files' delays consistent with the stated directions"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--meetings", type=int, default=6, help="simulated meetings for accuracy (default 6, half with walkers)")
    ap.add_argument("--duration", type=float, default=90.0, help="length of each meeting, s (default 90)")
    ap.add_argument("--repeat", type=int, default=3, help="repetitions of each timed run (default 3)")
    ap.add_argument("--work", type=Path, help="folder for the simulated meetings (kept; default: a temporary folder)")
    ap.add_argument("--json", type=Path, help="write all results here")
    ap.add_argument("--skip", choices=["cost", "accuracy", "shared"], action="append", default=[])
    args = ap.parse_args()
    folder = args.work or Path(tempfile.mkdtemp(prefix="bench-array-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"bench_array: {os.cpu_count()} CPUs, work folder {folder}", flush=True)
    result: dict[str, Any] = {}
    if "cost" not in args.skip:
        wav = simulate(folder, 7, 4, 1, 60.0) / "meeting.wav"
        cost = bench_cost(wav, args.repeat)
        blocks = bench_blocks(wav, args.repeat)
        result["cost"] = {**cost, "per_block": blocks}
        print(f"cost: array branch (mics + STFT + DOA + tracking) {100 * cost['branch_share_of_real_time']:.2f}% of real time "
              f"(wall, best of {args.repeat}; median run {100 * cost['branch_share_median_runs']:.2f}%; CPU time on all cores "
              f"{100 * cost['branch_cpu_share']:.2f}%; load average {cost['load_average']:.1f}), source alone {cost['wall_s']['source']:.2f} s, "
              f"with branch {cost['wall_s']['branch']:.2f} s for {cost['media_s']:.0f} s of 7-channel audio: "
              f"{'PASS' if cost['pass'] else 'FAIL'} (target <= 5%)")
        d = blocks["doa_ms_per_block"]
        for algo, row in d.items():
            extra = f", vectorised {row['vectorised']} ms (ratio {row['ratio']})" if "vectorised" in row else ""
            print(f"  DOA {algo}: pyroomacoustics {row['pyroomacoustics']} ms per 160 ms block{extra}")
        print(f"  STFT {blocks['stft_ms_per_audio_s']} ms per s of audio; tracker {blocks['tracker_ms_per_block']} ms per block; "
              f"sum of steps {100 * blocks['doa_plus_tracking_share_estimate']:.2f}% of real time")
    if "accuracy" not in args.skip:
        print(f"accuracy: {args.meetings} simulated meetings of {args.duration:g} s", flush=True)
        acc = bench_accuracy(folder, args.meetings, args.duration)
        result["accuracy"] = acc
        s = acc["summary"]
        p = s["pass"]
        print(f"static talkers ({s['static']['talkers']}): median of per-talker median errors {s['static']['median_err']} deg "
              f"(raw DOA {s['static']['raw_median_err']}), mean {s['static']['mean_err']} (raw {s['static']['raw_mean_err']}): "
              f"{'PASS' if p['static_median_le_5'] else 'FAIL'} (target <= 5)")
        print(f"walking talkers ({s['walking']['talkers']}): {s['walking']['median_err']} deg (raw {s['walking']['raw_median_err']}), "
              f"mean {s['walking']['mean_err']} (raw {s['walking']['raw_mean_err']}): {'PASS' if p['walking_median_le_10'] else 'FAIL'} (target <= 10)")
        print(f"tracking lowers the error against raw DOA: {'PASS' if p['tracking_lowers_error'] else 'FAIL'} "
              f"(per talker: {s['tracking_lowers_median_error_for']})")
        r10 = s["returns_after_silence_up_to_10s"]
        print(f"returns after silences of 1-10 s: {r10['all']['returns']}, same track {r10['all']['same_track']}; talker stayed within 20 deg: "
              f"{r10['stayed_within_20deg']['returns']}, breaks {r10['stayed_within_20deg']['breaks']}; walkers who moved further: "
              f"{r10['walkers_moved_over_20deg']['returns']}, breaks {r10['walkers_moved_over_20deg']['breaks']}: "
              f"{'PASS' if p['no_breaks_across_silences_le_10s_when_talker_stayed'] else 'FAIL'}")
        r_long = s["returns_after_silence_over_10s"]
        print(f"returns after silences over 10 s: {r_long['all']['returns']}, same track {r_long['all']['same_track']} "
              f"(stayed within 20 deg: {r_long['stayed_within_20deg']['returns']}, breaks {r_long['stayed_within_20deg']['breaks']}); "
              f"longest silence bridged {s['longest_silence_bridged_s']} s")
    if "shared" not in args.skip:
        print("array_sim_4mic:", flush=True)
        result["array_sim_4mic"] = bench_shared(folder)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
