#!/usr/bin/env python3
"""Whole-graph benchmark: graphs/transcribe.json against faster-whisper's own transcribe().

Both transcribe the same recording with the same model (the bundled Whisper tiny.en),
compute type (int8), threads, beam size (5), language and word timestamps, in the same
process, runs interleaved and repeated; the times include loading the models and reading
the file. faster-whisper runs with its built-in Silero VAD filter (``vad_filter=True``,
the same work meetflow's VAD node does) and, for reference, without it.

Reported: wall time, speed against real time, the ratio meetflow / faster-whisper
(target <= 1.3 with partials off), WER of each against the known text (target: within
1 point), and what partial results cost.

The recording is a generated meeting (espeak-ng, four voices, about 100 s) unless --input
and --ref are given. Run:  python tools/bench_transcribe.py [--repeat 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nodes.transcript.textnorm import word_error_rate  # noqa: E402
from pipeline import RunContext, load_graph, run_graph  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def make_recording(folder: Path) -> tuple[Path, str]:
    import soundfile as sf

    from nodes.sim.scripts import MEETING_LINES
    from nodes.sim.tts import conversation

    speakers = ["ann", "ben", "cat", "dan"]
    script = [(speakers[i % 4], line) for i, line in enumerate(MEETING_LINES)]
    voices = {"ann": "en-us+m3", "ben": "en-gb-x-rp+m1", "cat": "en-us+klatt", "dan": "en-us"}
    conv = conversation(script, voices, gap_s=1.0)
    path = folder / "meeting.wav"
    sf.write(path, conv.audio, conv.rate, subtype="PCM_16")
    return path, conv.text


def run_faster_whisper(path: Path, threads: int, vad: bool) -> tuple[float, float, str]:
    from faster_whisper import WhisperModel

    from nodes.asr.whisper_model import bundled_model_dir

    t = time.perf_counter()
    model = WhisperModel(str(bundled_model_dir()), device="cpu", compute_type="int8", cpu_threads=threads)
    loaded = time.perf_counter()
    segments, _ = model.transcribe(str(path), language="en", beam_size=5, word_timestamps=True, vad_filter=vad)
    text = " ".join(s.text.strip() for s in segments)
    end = time.perf_counter()
    return end - t, end - loaded, text


def run_meetflow(path: Path, out: Path, threads: int, partials: bool, executor: str = "inline") -> tuple[float, float, str]:
    t = time.perf_counter()
    graph = load_graph(ROOT / "graphs" / "transcribe.json", {"input": str(path), "out": str(out), "partials": partials, "console": False})
    graph.nodes["asr"].params.threads = threads
    metrics = run_graph(graph, RunContext(out_dir=out, quiet=True), executor)
    end = time.perf_counter()
    segs = json.loads((out / "transcript.seglst.json").read_text())
    text = " ".join(s["words"] for s in segs)
    asr = metrics.nodes["asr"]
    return end - t, asr.exact.total + asr.sampled.total, text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", type=Path, help="recording (default: a generated ~100 s meeting)")
    ap.add_argument("--ref", type=Path, help="reference text of --input")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="meetflow-bench-"))
    if args.input:
        path, ref = args.input, (args.ref.read_text() if args.ref else "")
    else:
        path, ref = make_recording(work)
    import soundfile as sf

    duration = sf.info(str(path)).duration
    contenders: dict[str, Callable[[int], tuple[float, float, str]]] = {
        "faster-whisper transcribe(vad_filter=True)": lambda i: run_faster_whisper(path, args.threads, True),
        "faster-whisper transcribe(vad_filter=False)": lambda i: run_faster_whisper(path, args.threads, False),
        "meetflow transcribe.json, partials off": lambda i: run_meetflow(path, work / f"off{i}", args.threads, False),
        "meetflow transcribe.json, partials on": lambda i: run_meetflow(path, work / f"on{i}", args.threads, True),
        "meetflow transcribe.json, partials off, threaded": lambda i: run_meetflow(path, work / f"thr{i}", args.threads, False, "threaded"),
    }
    walls: dict[str, list[float]] = {k: [] for k in contenders}
    texts: dict[str, str] = {}
    for i in range(args.repeat):
        for name, fn in contenders.items():  # interleaved, so drifts hit all alike
            wall, _, text = fn(i)
            walls[name].append(wall)
            texts[name] = text

    peer = "faster-whisper transcribe(vad_filter=True)"
    ours = "meetflow transcribe.json, partials off"
    rows = {}
    print(f"recording: {path} ({duration:.1f} s), model: bundled tiny.en int8, beam 5, {args.threads} threads, {args.repeat} runs each (median)")
    for name in contenders:
        wall = statistics.median(walls[name])
        w = word_error_rate(ref, texts[name]) if ref else float("nan")
        rows[name] = {"wall_s": round(wall, 3), "x_realtime": round(duration / wall, 2), "wer": round(w, 4), "ratio_to_peer": round(wall / statistics.median(walls[peer]), 3)}
        print(f"  {name:<48} {wall:7.2f} s  {duration / wall:6.1f}x RT  WER {100 * w:5.1f}%  ratio {rows[name]['ratio_to_peer']:.2f}")
    ratio = rows[ours]["ratio_to_peer"]
    wer_gap = 100 * (rows[ours]["wer"] - rows[peer]["wer"])
    partial_cost = rows["meetflow transcribe.json, partials on"]["wall_s"] / rows[ours]["wall_s"]
    print(f"  wall-time ratio meetflow/faster-whisper = {ratio:.2f} (target <= 1.3): {'PASS' if ratio <= 1.3 else 'FAIL'}")
    print(f"  WER difference = {wer_gap:+.1f} points (target within 1): {'PASS' if abs(wer_gap) <= 1.0 or wer_gap < 0 else 'FAIL'}")
    print(f"  partials on cost {partial_cost:.2f}x the wall time of partials off")
    if args.json:
        Path(args.json).write_text(json.dumps({"recording_s": duration, "rows": rows, "ratio": ratio, "wer_gap_points": wer_gap, "partials_cost": partial_cost}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
