#!/usr/bin/env python3
"""Recipe: fit the cascade's word-confidence calibration on generated speech, and measure it.

1. Generate utterances with known text and varied voices, speeds and noise
   (``cascade_data.py``; the train and test splits share neither sentences nor voices).
2. Decode them with both passes, exactly as the ``asr.hec`` node does, and keep each final
   word's evidence (token probabilities, agreement with the first pass, alignment, ...).
3. Label each word correct or not by aligning the hypothesis with the reference text.
4. Fit a logistic calibration on the train split (``confidence.Calibrator``) and write it
   to ``nodes/asr/confidence_model.json`` (the node loads it by default).
5. Report on the test split, for the fitted confidence and for Whisper's raw word
   probability: ECE (expected calibration error, 10 bins; lower is better), NCE
   (normalised cross entropy; higher is better, > 0 beats the base rate) and AUC of
   (1 - confidence) for detecting word errors (0.5 = chance).

Run:  python tools/fit_confidence.py [--repeats 2] [--out FILE] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cascade_data import decode_all, label_words, make_utterances  # noqa: E402

from nodes.asr.confidence import FEATURES, MODEL_PATH, Calibrator, auc, ece, nce  # noqa: E402


def dataset(split: str, repeats: int, limit: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    t = time.perf_counter()
    utts = make_utterances(split, repeats, limit=limit)
    decoded = decode_all(utts)
    X, y, raw = [], [], []
    errors = words = 0
    for d in decoded:
        texts = [w.text for w in d.final.words]
        for w, lab in zip(d.final.words, label_words(d.utt.text, texts)):
            if lab is None:
                continue
            X.append(w.evidence.vector())
            y.append(1.0 if lab else 0.0)
            raw.append(w.evidence.prob)
            words += 1
            errors += not lab
    from nodes.transcript.textnorm import word_error_rate

    wer = word_error_rate(" ".join(d.utt.text for d in decoded), " ".join(d.final.text for d in decoded))
    info = {"utterances": len(utts), "words": words, "word_errors": errors, "wer": round(wer, 4), "seconds": round(time.perf_counter() - t, 1)}
    return np.array(X), np.array(y), np.array(raw), info


def scores(conf: np.ndarray, y: np.ndarray) -> dict:
    return {
        "ece": round(ece(conf, y), 4),
        "nce": round(nce(conf, y), 4),
        "auc_error_detection": round(auc(1 - conf, y == 0), 4),
        "mean_confidence": round(float(conf.mean()), 4),
        "accuracy": round(float(y.mean()), 4),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=2, help="passes over each split's sentences (other voice, speed, noise each time)")
    ap.add_argument("--limit", type=int, help="at most this many utterances per split (quick runs)")
    ap.add_argument("--l2", type=float, default=1.0, help="L2 penalty of the logistic fit")
    ap.add_argument("--out", type=Path, default=MODEL_PATH, help=f"where to write the calibration (default {MODEL_PATH})")
    ap.add_argument("--no-write", action="store_true", help="measure only; do not write the calibration")
    ap.add_argument("--json", type=Path, help="also write the report as JSON")
    args = ap.parse_args()

    print("generating and decoding the train split ...", file=sys.stderr)
    Xtr, ytr, rawtr, info_tr = dataset("train", args.repeats, args.limit)
    print("generating and decoding the test split ...", file=sys.stderr)
    Xte, yte, rawte, info_te = dataset("test", args.repeats, args.limit)
    cal = Calibrator.fit(Xtr, ytr, l2=args.l2)
    report = {
        "train": info_tr,
        "test": info_te,
        "test_raw_whisper_probability": scores(np.clip(rawte, 0, 1), yte),
        "test_calibrated": scores(cal.predict(Xte), yte),
        "train_calibrated": scores(cal.predict(Xtr), ytr),
        "weights": {f: round(float(c), 3) for f, c in zip(FEATURES, cal.coef)},
    }
    print(f"train: {info_tr}")
    print(f"test:  {info_te}")
    print(f"{'on the test split':<34} {'ECE':>7} {'NCE':>7} {'AUC(err)':>9} {'mean conf':>10} {'accuracy':>9}")
    for name, key in (("Whisper word probability (raw)", "test_raw_whisper_probability"), ("calibrated confidence", "test_calibrated")):
        s = report[key]
        print(f"{name:<34} {s['ece']:7.3f} {s['nce']:7.3f} {s['auc_error_detection']:9.3f} {s['mean_confidence']:10.3f} {s['accuracy']:9.3f}")
    print("weights (standardised features):", report["weights"])
    if not args.no_write:
        args.out.write_text(json.dumps({"recipe": "tools/fit_confidence.py", "calibrator": cal.to_json(), "report": report}, indent=2) + "\n")
        print(f"wrote {args.out}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
