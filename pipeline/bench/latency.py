"""``meetflow bench latency``: streaming recognition latency and accuracy, scheme against scheme.

The same recording is played in real time (``--realtime``, threaded executor, as a live
meeting would arrive) through each streaming scheme, one after another:

* ``hec``: the two-pass cascade (``graphs/hec.json``): pocketsphinx partials and
  endpoints, Whisper finals with left context;
* ``whisper-la``: Whisper streaming with the LocalAgreement-2 policy (whisper_streaming,
  Machacek et al. 2023; ~3.3 s latency reported there): the open segment is re-decoded
  every second of speech and only words two consecutive decodes agree on are output;
* ``whisper-stable``: meetflow's Whisper partials (stable prefix + tail, short windows,
  skipped under load) with a final per segment;
* ``meeting``: the default graph (``graphs/meeting.json``): the cascade plus speaker
  attribution, whose join waits for the diariser's labels (not run unless asked for).

Each run reports the engine's latency figures from ``metrics.json`` (first partial:
wall time of a segment's first partial minus the wall time its first speech sample
entered the graph; final: wall time of its final minus that of its last speech sample;
speech bounds as the voice activity detector judged them). On the generated recording the
exact word boundaries are known, so the same figures are also computed against the true
speech start and end ("exact"). Accuracy: WER of the streamed finals against the text,
next to offline Whisper (faster-whisper's ``transcribe`` on the whole file, same model).

Targets checked for ``hec`` (2 cores): first partial p50 <= 0.5 s, final p50 <= 1.5 s,
WER within 1 point of offline Whisper.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import repo_root

KIND = "latency"
HELP = "streaming latency (first partial, final) and WER: the HEC cascade vs Whisper LocalAgreement"
DESCRIPTION = __doc__

SCHEMES = ("hec", "whisper-la", "whisper-stable", "meeting")
DEFAULT_SCHEMES = SCHEMES[:3]
TARGET_FIRST_PARTIAL_S = 0.5
TARGET_FINAL_S = 1.5
TARGET_WER_POINTS = 1.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", "-i", type=Path, help="recording (default: a generated meeting with exact word boundaries)")
    p.add_argument("--ref", type=Path, help="reference text of --input (plain text)")
    p.add_argument("--schemes", default=",".join(DEFAULT_SCHEMES), help=f"comma-separated schemes to run, of {','.join(SCHEMES)} (default: {','.join(DEFAULT_SCHEMES)})")
    p.add_argument("--lines", type=int, default=24, help="sentences in the generated meeting (default 24, about 100 s)")
    p.add_argument("--executor", "-e", choices=["threaded", "inline"], default="threaded", help="executor of the real-time runs (default threaded, as live)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for Whisper (default 2)")
    p.add_argument("--keep", type=Path, help="keep recordings and outputs in this folder")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")


# -- the recording ----------------------------------------------------------------------------------
def _generated(folder: Path, lines: int) -> tuple[Path, str, list[list[Any]]]:
    import soundfile as sf

    from nodes.sim.scripts import MEETING_LINES
    from nodes.sim.timed_tts import timed_conversation

    speakers = ["ann", "ben", "cat", "dan"]
    text = (MEETING_LINES * (1 + lines // len(MEETING_LINES)))[:lines]
    script = [(speakers[i % 4], line) for i, line in enumerate(text)]
    voices = {"ann": "en-us+m3", "ben": "en-gb-x-rp+m1", "cat": "en-us+klatt", "dan": "en-us"}
    conv = timed_conversation(script, voices, gap_s=1.0)
    path = folder / "meeting.wav"
    sf.write(path, conv.audio, conv.rate, subtype="PCM_16")
    return path, conv.text, conv.words


# -- peers ----------------------------------------------------------------------------------------
def _offline(path: Path, threads: int) -> tuple[str, float]:
    from faster_whisper import WhisperModel

    from nodes.asr.whisper_model import bundled_model_dir

    t = time.perf_counter()
    model = WhisperModel(str(bundled_model_dir()), device="cpu", compute_type="int8", cpu_threads=threads)
    segments, _ = model.transcribe(str(path), language="en", beam_size=5, vad_filter=True)
    text = " ".join(s.text.strip() for s in segments)
    return text, time.perf_counter() - t


def _graph(scheme: str, path: Path, out: Path, threads: int) -> Any:
    from pipeline import load_graph

    root = repo_root() / "graphs"
    values: dict[str, Any] = {"input": str(path), "out": str(out), "console": False}
    if scheme == "hec":
        graph = load_graph(root / "hec.json", values)
    elif scheme == "meeting":
        graph = load_graph(root / "meeting.json", values)
    else:
        graph = load_graph(root / "transcribe.json", {**values, "partials": True})
    asr: Any = graph.nodes["asr"].params  # the recogniser's own parameter model
    asr.threads = threads
    if scheme == "whisper-la":
        asr.partial_policy = "local_agreement"
        asr.partial_budget = 1.0  # the policy as published: never skips a decode
        asr.max_lag_s = 1e9
    return graph


def _journal(out: Path) -> list[dict]:
    path = out / "transcript.jsonl"
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()] if path.exists() else []


def _exact_latency(rows: list[dict], words: list[Any], clock: Any) -> tuple[list[float], list[float]]:
    """First-partial and final latency against the exact speech bounds of each final segment."""
    flat = [w for turn in words for w in turn]
    by_seg: dict[str, list[dict]] = {}
    for r in rows:
        by_seg.setdefault(r["segment_id"], []).append(r)
    firsts, finals = [], []
    for seg_rows in by_seg.values():
        final = next((r for r in seg_rows if r["status"] == "final" and r["text"].strip()), None)
        if final is None:
            continue
        lo = final.get("speech_t0", final["t0"]) - 0.25
        hi = final.get("speech_t1", final["t1"]) + 0.25
        inside = [w for w in flat if lo <= 0.5 * (w.t0 + w.t1) <= hi]
        if not inside:
            continue
        t0 = min(w.t0 for w in inside)
        t1 = max(w.t1 for w in inside)
        first = next((r for r in seg_rows if r["status"] == "partial" and r["text"].strip()), None)
        if first is not None:
            firsts.append(first["wall"] - clock.wall_at(t0))
        finals.append(final["wall"] - clock.wall_at(t1))
    return firsts, finals


def _run_scheme(scheme: str, path: Path, out: Path, args: argparse.Namespace, ref: str, words: list | None) -> dict[str, Any]:
    from nodes.transcript.textnorm import word_error_rate
    from pipeline import RunContext, run_graph

    graph = _graph(scheme, path, out, args.threads)
    ctx = RunContext(out_dir=out, realtime=True, quiet=True)
    cpu = time.process_time()
    t = time.perf_counter()
    metrics = run_graph(graph, ctx, args.executor)
    wall = time.perf_counter() - t
    cpu = time.process_time() - cpu
    (out / "metrics.json").write_text(json.dumps(metrics.to_json(), indent=2) + "\n", encoding="utf-8")
    rows = _journal(out)
    finals = json.loads((out / "transcript.seglst.json").read_text(encoding="utf-8")) if (out / "transcript.seglst.json").exists() else []
    text = " ".join(s["words"] for s in finals)
    lat = metrics.latency.to_json(True)
    res: dict[str, Any] = {
        "first_partial_s": {k: lat["first_partial_s"].get(k) for k in ("p50", "p95", "count")},
        "final_s": {k: lat["final_s"].get(k) for k in ("p50", "p95", "count")},
        "wer": round(word_error_rate(ref, text), 4) if ref else None,
        "segments": len(finals),
        "partials": sum(r["status"] == "partial" for r in rows),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "skipped_partials": ctx.summary.get("partials", {}),
    }
    if words:
        fp, fi = _exact_latency(rows, words, ctx.clock)
        res["exact"] = {
            "first_partial_p50": round(statistics.median(fp), 3) if fp else None,
            "first_partial_p95": round(_quantile(fp, 0.95), 3) if fp else None,
            "final_p50": round(statistics.median(fi), 3) if fi else None,
            "final_p95": round(_quantile(fi, 0.95), 3) if fi else None,
        }
    return res


def _quantile(xs: list[float], q: float) -> float:
    v = sorted(xs)
    pos = q * (len(v) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def _fmt(x: Any, unit: str = "") -> str:
    return "   -  " if x is None else f"{x:6.2f}{unit}"


def _duration(path: Path) -> float:
    """Seconds of audio in ``path``; an input error naming it when soundfile cannot read it."""
    import soundfile as sf

    from pipeline.errors import InputError

    try:
        return float(sf.info(str(path)).duration)
    except Exception as exc:  # soundfile raises its own error types for unreadable files
        raise InputError(f"{path}: not an audio file soundfile can read ({exc})") from None


def run(args: argparse.Namespace) -> int:
    from nodes.transcript.textnorm import word_error_rate
    from pipeline.errors import InputError, UsageError

    schemes = [s.strip() for s in args.schemes.split(",") if s.strip()]
    bad = [s for s in schemes if s not in SCHEMES]
    if bad or not schemes:
        raise UsageError(f"unknown scheme(s) {', '.join(bad) or '(none)'}; choose from {', '.join(SCHEMES)}")
    if args.lines < 1:
        raise UsageError("--lines must be at least 1")
    words = None
    if args.input:
        if not args.input.exists():
            raise InputError(f"{args.input}: no such file")
        path = args.input
        duration = _duration(path)
        if args.ref and not args.ref.is_file():
            raise InputError(f"{args.ref}: {'no such reference text file' if not args.ref.exists() else 'not a text file'}")
        try:
            ref = args.ref.read_text(encoding="utf-8") if args.ref else ""
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{args.ref}: cannot read the reference text ({exc})") from None
    elif args.ref:
        raise UsageError("--ref is the text of --input; give --input too")
    # the work folder only once the inputs are known good: a mistyped path leaves nothing behind
    try:
        work = args.keep or Path(tempfile.mkdtemp(prefix="meetflow-bench-latency-"))
        work.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--keep {args.keep}: cannot use it as a folder ({exc.strerror or exc})") from None
    if not args.input:
        path, ref, words = _generated(work, args.lines)
        duration = _duration(path)
    print(f"recording: {path} ({duration:.1f} s); {args.executor} executor, real time, Whisper tiny.en int8 with {args.threads} threads", flush=True)
    off_text, off_wall = _offline(path, args.threads)
    off_wer = word_error_rate(ref, off_text) if ref else None
    results: dict[str, Any] = {}
    for s in schemes:
        print(f"  running {s} ({duration:.0f} s in real time) ...", flush=True)
        results[s] = _run_scheme(s, path, work / s, args, ref, words)

    print()
    head = f"  {'scheme':<16} {'first partial p50/p95':>22} {'final p50/p95':>16}"
    if words:
        head += f" {'exact: first p50':>17} {'final p50':>10}"
    head += f" {'WER':>7} {'segments':>9} {'CPU s':>7}"
    print(head)
    for s, r in results.items():
        fp, fi = r["first_partial_s"], r["final_s"]
        line = f"  {s:<16} {_fmt(fp['p50'])} /{_fmt(fp['p95'])} s   {_fmt(fi['p50'])} /{_fmt(fi['p95'])} s"
        if words:
            ex = r["exact"]
            line += f" {_fmt(ex['first_partial_p50'])} s      {_fmt(ex['final_p50'])} s"
        wer = f"{100 * r['wer']:5.1f}%" if r["wer"] is not None else "   -  "
        line += f" {wer:>7} {r['segments']:>9} {r['cpu_s']:>7.1f}"
        print(line)
    if off_wer is not None:
        print(f"  {'offline Whisper':<16} {'':>22} {'':>16}" + (" " * 29 if words else "") + f" {100 * off_wer:5.1f}%  (faster-whisper transcribe, {off_wall:.1f} s)")

    verdicts: dict[str, bool] = {}
    if "hec" in results:
        r = results["hec"]
        fp, fi = r["first_partial_s"]["p50"], r["final_s"]["p50"]
        verdicts["first_partial_p50"] = fp is not None and fp <= TARGET_FIRST_PARTIAL_S
        verdicts["final_p50"] = fi is not None and fi <= TARGET_FINAL_S
        print()
        print(f"  hec first partial p50 = {_fmt(fp).strip()} s (target <= {TARGET_FIRST_PARTIAL_S}): {'PASS' if verdicts['first_partial_p50'] else 'FAIL'}")
        print(f"  hec final p50 = {_fmt(fi).strip()} s (target <= {TARGET_FINAL_S}): {'PASS' if verdicts['final_p50'] else 'FAIL'}")
        if off_wer is not None and r["wer"] is not None:
            gap = 100 * (r["wer"] - off_wer)
            verdicts["wer"] = gap <= TARGET_WER_POINTS
            print(f"  hec WER - offline WER = {gap:+.1f} points (target <= {TARGET_WER_POINTS:+.0f}): {'PASS' if verdicts['wer'] else 'FAIL'}")
    for s in ("whisper-la", "whisper-stable"):
        if s in results and "hec" in results:
            a, b = results["hec"]["final_s"]["p50"], results[s]["final_s"]["p50"]
            if a and b:
                print(f"  {s}: final p50 {b:.2f} s = {b / a:.1f}x the cascade's; first partial p50 {_fmt(results[s]['first_partial_s']['p50']).strip()} s")
    if args.json:
        args.json.write_text(json.dumps({"recording_s": duration, "offline_wer": off_wer, "schemes": results, "verdicts": verdicts}, indent=2) + "\n")
    print(f"\n  outputs in {work}")
    return 0


if __name__ == "__main__":  # python -m pipeline.bench.latency
    ap = argparse.ArgumentParser(description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(ap)
    sys.exit(run(ap.parse_args()))
