#!/usr/bin/env python3
"""Overload benchmark: a live meeting with recognition slowed to 1.5x real time.

A generated multichannel meeting (espeak-ng, four voices, the 24 lines of
``nodes/sim/scripts.py`` repeated to fill ``--minutes``) is played into a private
PulseAudio server's virtual 4-microphone array and captured live by
``meetflow run graphs/meeting.json --input mic:pulse`` (real sounddevice/PortAudio capture,
real threaded executor). Recognition is slowed by a ``speech.delay`` stage in front of
Whisper that spends 1.5 s of wall time per second of speech (plus Whisper's own cost), so
without protection the backlog grows by at least half a second per second of speech.

Three runs capture the same audio, at the same time from the same sink's monitor, or one
after the other with ``--sequential`` (then they do not compete for the CPU):

* ``shed``: graphs/meeting.json as shipped: ``speech.shed`` drops or cuts whole speech
  segments to keep final text within the latency budget (``--budget``);
* ``edge-drop``: no segment shedding; the vad -> recogniser edge only bounds its queue
  (``capacity_s`` = budget / rtf, ``drop_oldest``): the engine's per-edge policy alone,
  which keeps latency bounded by dropping random chunks of speech;
* ``block``: no dropping at all (the replay behaviour): nothing is lost, latency grows.

Reported per run: final-text latency p50/p95/max against the budget (from metrics.json:
wall time the final was written minus wall time its last word was captured), latency per
minute, drops (segments, speech seconds, edge packets), WER against the script and how
garbled the transcribed part is ((S+I)/hypothesis words), capture losses and clock drift,
and the process's RSS over time (memory must stay flat: slope over minutes 2..end).

Run:  python tools/bench_overload.py [--minutes 10] [--rtf 1.5] [--budget 10] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VOICES = {"ann": "en-us+m3", "ben": "en-gb-x-rp+m1", "cat": "en-us+klatt", "dan": "en-us"}
#: Per-talker inter-microphone delays (samples) and gains: four talkers around a 4-mic array.
_DELAYS = {"ann": (0, 2, 4, 2), "ben": (4, 2, 0, 2), "cat": (2, 0, 2, 4), "dan": (2, 4, 2, 0)}


def meeting_audio(lines: list[str], channels: int = 4, gap_s: float = 1.0, repeat: int = 1) -> tuple[np.ndarray, str, list[tuple[str, float, float, str]]]:
    """A multichannel meeting: (samples (n, channels) float32 at 16 kHz, reference text, turns).

    Each talker reaches the microphones with its own small delays, as from its own
    direction; ``repeat`` tiles the conversation (synthesised once).
    """
    from nodes.sim.tts import conversation

    speakers = list(VOICES)
    script = [(speakers[i % len(speakers)], line) for i, line in enumerate(lines)]
    conv = conversation(script, VOICES, gap_s=gap_s)
    mono = conv.audio
    out = np.zeros((len(mono), channels), dtype=np.float32)
    for turn in conv.turns:
        a, b = int(turn.t0 * conv.rate) - 400, int(turn.t1 * conv.rate) + 400
        a, b = max(a, 0), min(b, len(mono))
        seg = mono[a:b]
        for ch in range(channels):
            d = _DELAYS[turn.speaker][ch % 4]
            out[a + d : b, ch] += seg[: b - a - d] * (1.0 - 0.04 * ch)
    turns = [(t.speaker, t.t0, t.t1, t.text) for t in conv.turns]
    if repeat > 1:
        n = len(out)
        turns = [(s, t0 + k * n / conv.rate, t1 + k * n / conv.rate, txt) for k in range(repeat) for (s, t0, t1, txt) in turns]
        out = np.tile(out, (repeat, 1))
    text = " ".join(t[3] for t in turns)
    return out, text, turns


def meeting_sets(doc: dict[str, Any] | None = None) -> list[str]:
    """``--set`` options graphs/meeting.json needs for the simulated meeting.

    The simulated talkers reach the 4 microphones with made-up delays that fit no real
    array geometry; a graph with direction finding (a variable ``array``) gets it switched
    off, so that it neither rejects the 4 channels nor reports meaningless directions.
    """
    if doc is None:
        doc = json.loads((ROOT / "graphs" / "meeting.json").read_text())
    return ["--set", "array=none"] if "array" in doc.get("variables", {}) else []


def slowed_graph(rtf: float, mode: str = "shed", budget_s: float = 10.0, shed_params: dict[str, Any] | None = None) -> dict[str, Any]:
    """graphs/meeting.json with recognition slowed by ``rtf`` and the chosen overload mode.

    ``shed``: as shipped (speech.shed active); ``edge-drop``: shedding off, the queue in front
    of the recogniser bounded to budget / rtf media seconds with drop_oldest; ``block``:
    shedding off, nothing dropped.
    """
    doc = json.loads((ROOT / "graphs" / "meeting.json").read_text())
    doc["nodes"].append({"id": "slow", "type": "speech.delay", "params": {"rtf": rtf}})
    edges = []
    for e in doc["edges"]:
        if isinstance(e, dict) and e.get("to") == "asr.speech":
            # the recogniser's own input edge (after the shedder and any first pass)
            edges.append({"from": e["from"], "to": "slow.speech", "capacity": 2})
            edges.append({"from": "slow.speech", "to": "asr.speech", "capacity": 2})
        elif isinstance(e, dict) and e.get("to") == "shed.speech" and mode != "shed":
            e = dict(e)
            if mode == "edge-drop":
                e.update(capacity=100000, capacity_s=budget_s / max(rtf, 1.0), policy="drop_oldest")
            else:
                e.update(capacity=100000, policy="block")
                e.pop("capacity_s", None)
            edges.append(e)
        else:
            edges.append(e)
    doc["edges"] = edges
    for n in doc["nodes"]:
        if n["id"] == "shed":
            n["params"] = {**n.get("params", {}), **(shed_params or {})}
            if mode != "shed":
                n["params"]["active"] = "never"
    return doc


class RssSampler(threading.Thread):
    """Samples a process's resident memory every ``every`` seconds."""

    def __init__(self, pid: int, every: float = 10.0) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, float]] = []
        #: the same samples split as the kernel accounts them: RssAnon (the process's own heap),
        #: RssFile (mapped libraries and models), RssShmem (shared memory, e.g. the audio server's pool)
        self.parts: dict[str, list[float]] = {"anon": [], "file": [], "shmem": []}
        self.stop = threading.Event()
        self.t0 = time.monotonic()

    def run(self) -> None:
        keys = {"VmRSS:": None, "RssAnon:": "anon", "RssFile:": "file", "RssShmem:": "shmem"}
        while not self.stop.is_set():
            try:
                fields = {k: int(line.split()[1]) / 1024 for line in Path(f"/proc/{self.pid}/status").read_text().splitlines()
                          for k in keys if line.startswith(k)}
            except OSError:
                return
            if "VmRSS:" in fields:
                self.samples.append((time.monotonic() - self.t0, fields["VmRSS:"]))
                for k, part in keys.items():
                    if part:
                        self.parts[part].append(round(fields.get(k, 0.0), 1))
            self.stop.wait(self.every)


def start_run(name: str, doc: dict, out: Path, env: dict[str, str], budget: float) -> tuple[subprocess.Popen, Path]:
    out.mkdir(parents=True, exist_ok=True)
    graph = out / "graph.json"
    graph.write_text(json.dumps(doc, indent=1))
    log = open(out / "stderr.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli.main", "run", str(graph), "--input", "mic:pulse", "-o", str(out), "--overwrite", "--set", f"latency_budget={budget}", "--set", "console=false", *meeting_sets(doc)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log,
    )
    return proc, graph


def wait_capturing(out: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "capturing from" in (out / "stderr.log").read_text():
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{out.name}: meetflow exited early: {(out / 'stderr.log').read_text()}")
        time.sleep(0.1)
    raise RuntimeError(f"{out.name}: never started capturing")


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (minute, MB) points: MB per minute."""
    return float(np.polyfit([x for x, _ in points], [y for _, y in points], 1)[0])


def analyse(out: Path, ref: str, rss: list[tuple[float, float]], budget: float, parts: dict[str, list[float]] | None = None) -> dict[str, Any]:
    import jiwer

    from nodes.transcript.textnorm import normalize

    m = json.loads((out / "metrics.json").read_text())
    lat = m["latency"].get("final_s", {})
    cap = next(iter(m.get("capture", {}).values()), {})
    shed = next(iter(m.get("shedding", {}).values()), {})
    segs = json.loads((out / "transcript.seglst.json").read_text())
    hyp = " ".join(s["words"] for s in segs)
    r = jiwer.process_words(normalize(ref), normalize(hyp))
    n_hyp = r.hits + r.substitutions + r.insertions
    # Latency per minute of the meeting, from the journal: wall time of each final minus
    # the wall time its last word was captured (capture start + media time; live capture
    # runs in real time and lost no audio here, see capture.lost_s).
    start = datetime.fromisoformat(cap["started_at"]).timestamp() if cap.get("started_at") else None
    per_min: dict[int, float] = {}
    if start is not None:
        seen: set[str] = set()
        for line in (out / "transcript.jsonl").read_text().splitlines():
            u = json.loads(line)
            # A segment's first final only: speaker relabels re-send finals minutes later.
            key = (u.get("extra") or {}).get("split_of") or u["segment_id"]
            if u["status"] == "final" and u["text"].strip() and key not in seen:
                seen.add(key)
                # As metrics.json's final_s: from the end of the segment's speech (a part of a
                # segment split at a speaker change carries it), not from the part's last word.
                end = u.get("speech_t1") if u.get("speech_t1") is not None else u["t1"]
                latency = u["wall"] - (start + end)
                k = int(end // 60)
                per_min[k] = max(per_min.get(k, 0.0), latency)
    drops = {k: v["drops"] for k, v in m["edges"].items() if v["drops"]}
    # The run's own view of its memory at each trim (metrics.json memory.series): what malloc
    # holds in use and free, and Python's live blocks, tell a leak from fragmentation.
    series = m.get("memory", {}).get("series", {})
    cols, rows = series.get("columns", []), [r for r in series.get("rows", []) if r[0] >= 120]
    heap: dict[str, Any] = {}
    if len(rows) >= 3:
        for k, name in enumerate(cols[1:], start=1):
            pts = [(r[0] / 60, r[k]) for r in rows if r[k] is not None]
            if len(pts) >= 3:
                heap[f"{name}_slope_per_min_after_2min"] = round(_slope(pts), 3)
                heap[f"{name}_at_2min_and_end"] = [pts[0][1], pts[-1][1]]
    rss_mb = [round(v, 1) for _, v in rss]
    late = [(t, v) for t, v in rss if t >= 120]
    slope = _slope([(t / 60, v) for t, v in late]) if len(late) >= 3 else None
    return {
        "final_latency_s": lat,
        "budget_s": budget,
        "within_budget": bool(lat) and lat.get("max", 1e9) <= budget,
        "final_latency_max_per_minute_s": {str(k): round(v, 2) for k, v in sorted(per_min.items())},
        "finals": len(segs),
        "shedding": {k: shed.get(k) for k in ("segments", "segments_dropped", "segments_cut", "speech_s", "speech_dropped_s", "max_lag_s")},
        "edge_drops": drops,
        "wer": round(r.wer, 4),
        "garble_rate": round((r.substitutions + r.insertions) / n_hyp, 4) if n_hyp else None,
        "words_ref": r.hits + r.substitutions + r.deletions,
        "words_hyp": n_hyp,
        "capture": {k: cap.get(k) for k in ("media_s", "wall_s", "lost_s", "overflows", "drift_ppm", "max_gap_s")},
        "rss_mb": {"first": rss_mb[0] if rss_mb else None, "at_2min": next((round(v, 1) for t, v in rss if t >= 120), None),
                   "last": rss_mb[-1] if rss_mb else None, "max": max(rss_mb) if rss_mb else None,
                   "slope_mb_per_min_after_2min": None if slope is None else round(slope, 3), "samples": rss_mb,
                   "parts": parts or {}, "heap": heap},
        "exit_status": None,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rtf", type=float, default=1.5, help="wall seconds spent per second of speech in front of Whisper")
    ap.add_argument("--budget", type=float, default=10.0, help="latency budget of final text, seconds")
    ap.add_argument("--modes", default="shed,edge-drop,block", help="runs to make side by side (semicolon-separated; 'shed:{json}' overrides speech.shed's parameters)")
    ap.add_argument("--sequential", action="store_true", help="one mode after the other (same audio), instead of all at once on the same audio")
    ap.add_argument("--rss-every", type=float, default=10.0)
    ap.add_argument("--keep", type=Path, help="keep outputs in this folder")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args()

    from nodes.sim.pulse_server import PulseServer
    from nodes.sim.scripts import MEETING_LINES

    import soundfile as sf

    base_audio, _, _ = meeting_audio(MEETING_LINES)
    repeat = max(1, int(np.ceil(args.minutes * 60 * 16000 / len(base_audio))))
    audio, ref, _ = meeting_audio(MEETING_LINES, repeat=repeat)
    audio = audio[: int(args.minutes * 60 * 16000)]
    n_words_kept = None
    work = args.keep or Path(tempfile.mkdtemp(prefix="meetflow-overload-"))
    work.mkdir(parents=True, exist_ok=True)
    wav = work / "meeting.wav"
    sf.write(wav, audio, 16000, subtype="FLOAT")
    # Reference: the lines whose turns fit in the played audio.
    _, _, turns = meeting_audio(MEETING_LINES, repeat=repeat)
    ref = " ".join(t[3] for t in turns if t[2] <= len(audio) / 16000)
    n_words_kept = len(ref.split())
    print(f"meeting: {len(audio) / 16000 / 60:.1f} min, {n_words_kept} words; recognition slowed to {args.rtf}x real time; budget {args.budget} s")

    modes = [m.strip() for m in args.modes.split(";" if ";" in args.modes else ",") if m.strip()]
    results: dict[str, Any] = {"minutes": round(len(audio) / 16000 / 60, 2), "rtf": args.rtf, "budget_s": args.budget,
                               "sequential": args.sequential, "runs": {}}
    groups = [[m] for m in modes] if args.sequential else [modes]
    for group in groups:
        with PulseServer(channels=4) as server:
            runs = {}
            for mode in group:
                name = mode.split(":")[0]
                params = json.loads(mode.split(":", 1)[1]) if ":" in mode else None
                proc, _ = start_run(mode, slowed_graph(args.rtf, name, args.budget, params), work / mode, server.env, args.budget)
                runs[mode] = proc
            for mode, proc in runs.items():
                wait_capturing(work / mode, proc)
            samplers = {mode: RssSampler(proc.pid, args.rss_every) for mode, proc in runs.items()}
            for s in samplers.values():
                s.start()
            t = time.monotonic()
            server.play(wav)
            print(f"{', '.join(group)}: played {time.monotonic() - t:.1f} s of audio", flush=True)
            time.sleep(args.budget + 3)
            for mode, proc in runs.items():
                proc.send_signal(signal.SIGINT)
            for mode, proc in runs.items():
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.send_signal(signal.SIGINT)  # second Ctrl-C: abort the backlog
                    try:
                        proc.wait(timeout=60)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
            for s in samplers.values():
                s.stop.set()
            for mode, proc in runs.items():
                res = analyse(work / mode, ref, samplers[mode].samples, args.budget, samplers[mode].parts)
                res["exit_status"] = proc.returncode
                results["runs"][mode] = res

    for mode, r in results["runs"].items():
        lat = r["final_latency_s"]
        verdict = "PASS" if r["within_budget"] else "FAIL"
        print(f"\n== {mode}: final latency p50 {lat.get('p50')} s, p95 {lat.get('p95')} s, max {lat.get('max')} s "
              f"(budget {args.budget} s: {verdict}), {r['finals']} finals")
        print(f"   latency max per minute: {r['final_latency_max_per_minute_s']}")
        print(f"   shedding: {r['shedding']}; edge drops: {r['edge_drops']}")
        print(f"   WER {r['wer']:.3f}, garbled share of transcribed words {r['garble_rate']}, {r['words_hyp']}/{r['words_ref']} words")
        print(f"   capture: {r['capture']}")
        rss = r["rss_mb"]
        print(f"   RSS MB: first {rss['first']}, at 2 min {rss['at_2min']}, last {rss['last']}, max {rss['max']}, "
              f"slope after 2 min {rss['slope_mb_per_min_after_2min']} MB/min")
        if rss.get("heap"):
            print(f"   inside the run (per trim, after 2 min): {rss['heap']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if "shed" in results["runs"]:
        r = results["runs"]["shed"]
        flat = r["rss_mb"]["slope_mb_per_min_after_2min"]
        ok_mem = flat is not None and abs(flat) < 1.0
        print(f"\nshed: latency within budget: {'PASS' if r['within_budget'] else 'FAIL'}; "
              f"memory flat (|slope| < 1 MB/min after 2 min): {'PASS' if ok_mem else 'FAIL' if flat is not None else 'n/a (run too short)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
