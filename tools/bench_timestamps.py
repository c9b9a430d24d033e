#!/usr/bin/env python3
"""Word timestamp accuracy of the cascade's finals against exact word boundaries.

Reference boundaries:
* generated speech: espeak-ng sentences whose word boundaries are exact (phoneme events
  of the synthesiser, ``nodes/sim/timed_tts.py``), in the held-out test split of
  ``cascade_data.py`` (other sentences and voices than the fit, some with noise);
* TIMIT SA1 (``../shared/data/timit_sa1``, real speech; skipped when absent): the word
  boundaries TIMIT publishes for this utterance (LDC93S1.wrd, in samples at 16 kHz).

Compared, on the words recognised correctly (alignment of hypothesis and reference):
* Whisper's own word times (cross-attention DTW, what ``word_timestamps`` give);
* the timestamp emitter of the cascade: forced alignment of the final words with the
  first pass's acoustic model, Whisper's times where alignment fails, both corrected by
  constant offsets fitted on the train split.

Reported: mean absolute boundary error (starts and ends together; target <= 50 ms),
separately for starts and ends, and the share of words the aligner placed.
``--fit`` refits the offsets on the train split and writes ``nodes/asr/timing_model.json``.

Run:  python tools/bench_timestamps.py [--fit] [--repeats 1] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cascade_data import Decoded, decode_all, make_utterances, matched_words  # noqa: E402

from nodes.asr.timestamps import MODEL_PATH, TimingModel  # noqa: E402
from nodes.sim.timed_tts import TimedWord  # noqa: E402

TARGET_MS = 50.0
TIMIT = Path(__file__).resolve().parents[2] / "shared" / "data" / "timit_sa1"
# TIMIT's published word boundaries for LDC93S1 (TRAIN/DR1/FCJF0/SA1.WRD), samples at 16 kHz.
TIMIT_SA1_WORDS = [
    (3050, 5723, "she"), (5723, 10337, "had"), (9190, 11517, "your"), (11517, 16334, "dark"),
    (16334, 21199, "suit"), (21199, 22560, "in"), (22560, 28064, "greasy"), (28064, 33360, "wash"),
    (33754, 37556, "water"), (37556, 40313, "all"), (40313, 44586, "year"),
]


def pairs(decoded: list[Decoded], model: TimingModel) -> dict[str, np.ndarray]:
    """Signed boundary errors (s): rows of (ref start, ref end, whisper start, whisper end, emitted start, emitted end, aligned)."""
    rows = []
    for d in decoded:
        ref = [w for w in d.utt.words]
        hyp = [w.text for w in d.final.words]
        for hi, ri in matched_words(ref, hyp):
            r = ref[ri]
            if not r.exact:
                continue
            fw = d.final.words[hi]
            ww = d.whisper_words[hi] if hi < len(d.whisper_words) else None
            if ww is None:
                continue
            aligned = fw.evidence.aligned
            if aligned:
                e0, e1 = fw.t0 + model.aligned_start_s, fw.t1 + model.aligned_end_s
            else:
                e0, e1 = fw.t0 + model.whisper_start_s, fw.t1 + model.whisper_end_s
            rows.append((r.t0, r.t1, ww.t0, ww.t1, e0, e1, float(aligned)))
    return {"rows": np.array(rows, dtype=float).reshape(-1, 7)}


def report(name: str, data: np.ndarray, model: TimingModel) -> dict:
    if not len(data):
        print(f"  {name}: no matched words")
        return {}
    ref0, ref1, w0, w1, e0, e1, al = data.T
    def mae(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.mean(np.abs(a - b)) * 1000)
    out = {
        "words": int(len(data)),
        "aligned_share": round(float(al.mean()), 3),
        "whisper": {"boundary_mae_ms": round((mae(w0, ref0) + mae(w1, ref1)) / 2, 1), "start_mae_ms": round(mae(w0, ref0), 1), "end_mae_ms": round(mae(w1, ref1), 1),
                    "start_bias_ms": round(float(np.mean(w0 - ref0)) * 1000, 1), "end_bias_ms": round(float(np.mean(w1 - ref1)) * 1000, 1)},
        "emitter": {"boundary_mae_ms": round((mae(e0, ref0) + mae(e1, ref1)) / 2, 1), "start_mae_ms": round(mae(e0, ref0), 1), "end_mae_ms": round(mae(e1, ref1), 1),
                    "start_bias_ms": round(float(np.mean(e0 - ref0)) * 1000, 1), "end_bias_ms": round(float(np.mean(e1 - ref1)) * 1000, 1)},
    }
    print(f"  {name}: {out['words']} correctly recognised words, {100 * out['aligned_share']:.0f}% force-aligned")
    for k in ("whisper", "emitter"):
        s = out[k]
        label = "Whisper word times" if k == "whisper" else "timestamp emitter"
        verdict = "PASS" if s["boundary_mae_ms"] <= TARGET_MS else "FAIL"
        print(f"    {label:<20} boundary MAE {s['boundary_mae_ms']:6.1f} ms (start {s['start_mae_ms']:5.1f}, end {s['end_mae_ms']:5.1f}; "
              f"bias {s['start_bias_ms']:+.0f}/{s['end_bias_ms']:+.0f} ms)" + (f"  target <= {TARGET_MS:.0f} ms: {verdict}" if k == "emitter" else ""))
    return out


def fit(decoded: list[Decoded]) -> TimingModel:
    """Median signed errors of each source (robust to the odd misaligned word) -> offsets."""
    rows = pairs(decoded, TimingModel())["rows"]
    ref0, ref1, w0, w1, e0, e1, al = rows.T
    a = al > 0.5
    m = TimingModel(
        aligned_start_s=-float(np.median(e0[a] - ref0[a])) if a.any() else 0.0,
        aligned_end_s=-float(np.median(e1[a] - ref1[a])) if a.any() else 0.0,
        whisper_start_s=-float(np.median(w0 - ref0)),
        whisper_end_s=-float(np.median(w1 - ref1)),
    )
    return m


def timit(model: TimingModel) -> dict:
    wav = TIMIT / "LDC93S1.wav"
    if not wav.exists():
        print("  TIMIT SA1: ../shared/data/timit_sa1 not found, skipped")
        return {}
    import soundfile as sf

    from cascade_data import Utterance

    audio, rate = sf.read(str(wav), dtype="float32")
    words = [TimedWord(t, a / rate, b / rate, True) for a, b, t in TIMIT_SA1_WORDS]
    utt = Utterance("She had your dark suit in greasy wash water all year.", "timit", 0, None, audio, words)
    decoded = decode_all([utt], progress=False)
    print(f"  TIMIT SA1 final: {decoded[0].final.text!r}")
    return report("TIMIT SA1 (real speech)", pairs(decoded, model)["rows"], model)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fit", action="store_true", help="refit the offsets on the train split and write them")
    ap.add_argument("--repeats", type=int, default=1, help="passes over each split's sentences")
    ap.add_argument("--limit", type=int, help="at most this many utterances per split")
    ap.add_argument("--out", type=Path, default=MODEL_PATH)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    model = TimingModel.load(args.out if args.out.exists() else None) if not args.fit else TimingModel()
    result: dict = {}
    if args.fit:
        print("decoding the train split to fit the offsets ...", file=sys.stderr)
        model = fit(decode_all(make_utterances("train", args.repeats, limit=args.limit)))
        args.out.write_text(json.dumps({"recipe": "tools/bench_timestamps.py --fit", **model.to_json()}, indent=2) + "\n")
        print(f"fitted offsets {model.to_json()['offsets']} -> {args.out}")
    result["offsets"] = model.to_json()["offsets"]
    print("decoding the test split ...", file=sys.stderr)
    test = decode_all(make_utterances("test", args.repeats, limit=args.limit))
    print("word boundaries against exact references:")
    result["generated"] = report("generated speech (test split)", pairs(test, model)["rows"], model)
    result["timit_sa1"] = timit(model)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
