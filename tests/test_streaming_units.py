"""Streaming recognition pieces that need no model: partial policies, confidence, timing, vocabulary, latency."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from nodes.asr.confidence import Calibrator, WordEvidence, agreement, auc, ece, nce
from nodes.asr.partials import LoadGate, LocalAgreement, StablePrefix, common_prefix, strip_committed
from nodes.asr.pronounce import ipa_to_arpabet, normalize_word
from nodes.asr.timestamps import TimingModel, assign_times
from nodes.asr.vocabulary import Vocabulary, split_compound
from pipeline import TranscriptUpdate, Word
from pipeline.metrics import LatencyStats, RunMetrics


# -- partial policies ------------------------------------------------------------------------------
def test_stable_prefix_only_grows_and_never_changes() -> None:
    sp = StablePrefix()
    hyps = [
        "good",
        "good morning every",
        "good morning everyone thank",
        "good mourning everyone thank you",  # the decoder changes its mind about a stable word
        "good morning everyone thank you for joining",
    ]
    seen: list[list[str]] = []
    for h in hyps:
        stable, tail = sp.update(h.split())
        if seen:
            assert stable[: len(seen[-1])] == seen[-1], "stable words changed"
        seen.append(stable)
    assert seen[-1][:3] == ["good", "morning", "everyone"]
    assert sp.text.startswith("good morning everyone thank you")


def test_local_agreement_commits_what_two_hypotheses_agree_on() -> None:
    la = LocalAgreement()
    assert la.insert("we finished the".split()) == []
    assert la.insert("we finished the new".split()) == ["we", "finished", "the"]
    # The buffer is decoded from its start again: committed words are recognised and skipped.
    assert la.insert("we finished the new design for".split()) == ["new"]
    assert la.insert("we finished the new design for the login".split()) == ["design", "for"]
    assert la.finish() == ["the", "login"]
    assert la.committed == "we finished the new design for the login".split()


def test_prefix_helpers_ignore_case_and_punctuation() -> None:
    assert common_prefix(["Hello,", "World"], ["hello", "world!", "again"]) == 2
    assert strip_committed(["a", "b", "c"], ["b", "c", "d"]) == ["d"]
    assert strip_committed(["a", "b"], ["x", "y"]) == ["x", "y"]
    # the re-decoded buffer reads an earlier committed word differently: not repeated
    committed = "the budget for the second quarter is still under review".split()
    hyp = "the budget for the second water is still under review we should ask".split()
    assert strip_committed(committed, hyp) == ["we", "should", "ask"]
    # ... nor when the last committed word changed
    assert strip_committed("before friday".split(), "before fridays and then".split()) == ["and", "then"]


def test_load_gate_skips_over_budget_and_when_behind() -> None:
    gate = LoadGate(budget=0.5, max_lag_s=1.0, window_s=10.0)
    now = 1000.0
    assert gate.allow(0.0, now)
    gate.record(now - 6.0, now)  # 6 s of work in the last 10 s: over a 50% budget
    assert not gate.allow(0.0, now)
    assert gate.allow(0.0, now + 20.0)  # the window has moved on
    assert not gate.allow(2.0, now + 20.0)  # 2 s behind real time
    assert gate.skipped == 2 and gate.ran == 2


# -- confidence --------------------------------------------------------------------------------------
def _evidence(prob: float, agree: bool) -> WordEvidence:
    return WordEvidence(prob, prob, 1, agree, True, 0.0, 0.3, 4, -0.3, 0.01, False, False)


def test_calibrator_learns_and_is_calibrated_on_its_data() -> None:
    rng = np.random.default_rng(0)
    evs, ys = [], []
    for _ in range(2000):
        agree = bool(rng.random() < 0.6)
        p = float(np.clip(rng.beta(5, 2) if agree else rng.beta(2, 2), 0.01, 0.99))
        z = 1.5 * np.log(p / (1 - p)) + 2.0 * agree - 1.0  # a logistic truth over the evidence
        truth = rng.random() < 1 / (1 + np.exp(-z))
        evs.append(_evidence(p, agree))
        ys.append(float(truth))
    X = np.array([e.vector() for e in evs])
    y = np.array(ys)
    cal = Calibrator.fit(X, y)
    conf = cal.predict(X)
    assert ece(conf, y) < 0.03
    assert nce(conf, y) > nce(np.array([e.prob for e in evs]), y)
    assert auc(1 - conf, y == 0) > 0.7
    # round trip through JSON
    again = Calibrator.from_json(json.loads(json.dumps(cal.to_json())))
    assert np.allclose(again.predict(X), conf)
    # agreement with the first pass raises confidence, all else equal
    assert cal.confidence(_evidence(0.7, True)) > cal.confidence(_evidence(0.7, False))


def test_unfitted_calibrator_uses_whisper_probability(tmp_path: Path) -> None:
    assert Calibrator().confidence(_evidence(0.42, True)) == pytest.approx(0.42)
    with pytest.raises(FileNotFoundError):
        Calibrator.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"features": ["other"], "coef": [1], "intercept": 0, "mean": [0], "scale": [1]}))
    with pytest.raises(ValueError, match="refit"):
        Calibrator.load(bad)


def test_metrics_on_known_values() -> None:
    y = np.array([1, 1, 0, 0], dtype=float)
    assert auc(np.array([0.9, 0.8, 0.2, 0.1]), y == 1) == 1.0
    assert auc(np.array([0.5, 0.5, 0.5, 0.5]), y == 1) == 0.5
    assert ece(np.array([1.0, 1.0, 0.0, 0.0]), y) == 0.0
    assert ece(np.array([0.75] * 4), y) == pytest.approx(0.25)
    assert nce(np.array([0.5] * 4), y) == pytest.approx(0.0)
    assert nce(np.array([0.99, 0.99, 0.01, 0.01]), y) > 0.9


def test_agreement_between_passes() -> None:
    final = ["Good", "morning,", "everyone.", "Thank", "you"]
    first = ["what", "morning", "everyone", "thank", "you", "new"]
    assert agreement(final, first) == [False, True, True, True, True]
    assert agreement(final, []) == [False] * 5


# -- timing ------------------------------------------------------------------------------------------
def test_assign_times_prefers_alignment_and_keeps_order() -> None:
    model = TimingModel(aligned_start_s=0.01, aligned_end_s=0.02, whisper_start_s=-0.08, whisper_end_s=-0.05)
    whisper = [(0.10, 0.40), (0.45, 0.80), (0.90, 1.30)]
    aligned = [(0.12, 0.38), (None, None), (0.85, 1.20)]
    out = assign_times(whisper, aligned, model, duration=1.25)
    assert out[0].aligned and out[0].t0 == pytest.approx(0.13) and out[0].t1 == pytest.approx(0.40)
    assert not out[1].aligned and out[1].t0 == pytest.approx(0.37) and out[1].t1 <= out[2].t0
    assert out[2].t1 == pytest.approx(1.22)
    assert all(a.t0 <= b.t0 for a, b in zip(out, out[1:]))
    assert all(0 <= w.t0 <= w.t1 <= 1.25 for w in out)


def test_assign_times_spreads_words_whose_times_collapsed() -> None:
    """Whisper put a short segment's words in its context audio: clamped, all sat at 0 s (zero-length subtitles)."""
    model = TimingModel()
    out = assign_times([(0.0, 0.0)] * 5, [(None, None)] * 5, model, duration=0.88, weights=[4, 2, 3, 5, 6])
    assert out[0].t0 == 0.0 and out[-1].t1 == pytest.approx(0.88)
    assert all(a.t1 == pytest.approx(b.t0) for a, b in zip(out, out[1:]))  # in order, end to end
    assert out[3].t1 - out[3].t0 == pytest.approx(0.88 * 5 / 20)  # by letters
    # one collapsed word between aligned ones takes the gap they leave
    out = assign_times([(0.1, 0.4), (0.5, 0.5), (0.9, 1.2)], [(0.1, 0.4), (None, None), (0.8, 1.1)], model, duration=1.25)
    assert (out[1].t0, out[1].t1) == (pytest.approx(0.4), pytest.approx(0.8))
    # no room at all: the instant stays (nothing invented outside the neighbours)
    out = assign_times([(0.1, 0.4), (0.4, 0.4), (0.4, 0.7)], [(0.1, 0.4), (None, None), (0.4, 0.7)], model, duration=1.0)
    assert out[1].t0 == out[1].t1 == pytest.approx(0.4)
    assert all(0 <= w.t0 <= w.t1 <= 1.0 for w in out)


def test_timing_model_file_round_trip(tmp_path: Path) -> None:
    m = TimingModel(0.01, -0.02, -0.08, -0.05)
    p = tmp_path / "t.json"
    p.write_text(json.dumps(m.to_json()))
    assert TimingModel.load(p) == m
    with pytest.raises(FileNotFoundError):
        TimingModel.load(tmp_path / "nope.json")


# -- vocabulary and pronunciations ---------------------------------------------------------------------
def test_vocabulary_from_list_and_file(tmp_path: Path) -> None:
    f = tmp_path / "vocab.txt"
    f.write_text("# team names\nMeetflow\nlogin page\n\nmeetflow\nKubernetes\n", encoding="utf-8")
    v = Vocabulary.load(["Siobhan", "login  page"], f)
    assert [e.text for e in v.entries] == ["Siobhan", "login page", "Meetflow", "Kubernetes"]
    assert v.entries[1].token == "__login_page"
    assert split_compound("__login_page") == ["login", "page"] and split_compound("page") == ["page"]
    assert v.prompt() == "Glossary: Siobhan, login page, Meetflow, Kubernetes."
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Vocabulary.load([], tmp_path / "missing.txt")
    assert not Vocabulary.load([], None)


def test_ipa_to_arpabet() -> None:
    assert ipa_to_arpabet("m_ˈiː_t_f_l_oʊ") == ["M", "IY", "T", "F", "L", "OW"]
    assert ipa_to_arpabet("dʒ_ˈʌ_dʒ") == ["JH", "AH", "JH"]
    assert ipa_to_arpabet("b_ˈɑː_ɾ_əl") == ["B", "AA", "D", "AH", "L"]
    assert normalize_word("Organise,") == "organise" and normalize_word("don’t") == "don't" and normalize_word("--") == ""


# -- latency fields and metrics -------------------------------------------------------------------------
def test_speech_bounds_survive_the_journal() -> None:
    u = TranscriptUpdate("a", "final", 1.0, 2.0, "hi", [Word("hi", 1.0, 1.5, 0.9)], revision=2, speech_t0=1.1234, speech_t1=1.9)
    d = u.to_json()
    assert d["speech_t0"] == 1.123 and d["speech_t1"] == 1.9
    assert TranscriptUpdate.from_json(d).speech_t1 == 1.9
    plain = TranscriptUpdate("b", "partial", 0.0, 1.0, "x").to_json()
    assert "speech_t0" not in plain and TranscriptUpdate.from_json(plain).speech_t0 is None


def test_realtime_metrics_always_report_latency() -> None:
    m = RunMetrics("inline", {}, {}, LatencyStats(), realtime=True)
    lat = m.to_json()["latency"]
    assert lat["first_partial_s"] == {"p50": None, "p95": None, "max": None, "count": 0}
    assert lat["final_s"]["count"] == 0
    m.latency.add("final_s", 1.0)
    m.latency.add("final_s", 2.0)
    assert m.to_json()["latency"]["final_s"]["p50"] == 1.5
    assert "first_partial_s" not in RunMetrics("inline", {}, {}, LatencyStats()).to_json()["latency"]


def test_writer_measures_latency_from_speech_bounds(tmp_path: Path) -> None:
    from nodes.transcript.writer import TranscriptWriter, WriterParams
    from pipeline import Packet, RunContext

    ctx = RunContext(out_dir=tmp_path)
    ctx.clock.start(time.time() - 10.0)  # media time t entered at start + t (virtual clock)
    w = TranscriptWriter("files", WriterParams(dir=str(tmp_path), formats=["jsonl"]), ctx)
    w.open()
    now = time.time()
    # first partial of a segment whose speech began at 9.0 s (its padded audio at 8.8 s)
    w.process("transcript", Packet(9.5, 9.5, TranscriptUpdate("s", "partial", 8.8, 9.4, "hel", speech_t0=9.0)))
    w.process("transcript", Packet(9.6, 9.6, TranscriptUpdate("s", "final", 9.0, 9.9, "hello", [Word("hello", 9.0, 9.7)], revision=2, speech_t0=9.0, speech_t1=9.7)))
    w.close()
    lat = ctx.latency.to_json()
    assert lat["first_partial_s"]["count"] == 1 and lat["final_s"]["count"] == 1
    # wall - (start + t) with start = now - 10: about 10 - 9.0 = 1.0 and 10 - 9.7 = 0.3
    assert abs(lat["first_partial_s"]["p50"] - (1.0 + time.time() - now)) < 0.2
    assert abs(lat["final_s"]["p50"] - 0.3) < 0.2


@pytest.mark.parametrize("executor", ["inline", "threaded"])
def test_context_names_the_executor(tmp_path: Path, executor: str) -> None:
    """Nodes with worker threads (asr.hec) emit from them only under the threaded executor."""
    from conftest import write_graph

    from pipeline import RunContext, load_graph, run_graph

    g = write_graph(tmp_path / "g.json", [
        {"id": "src", "type": "test.count", "params": {"count": 3}},
        {"id": "sink", "type": "test.collect", "params": {"key": f"executor-{executor}"}},
    ], ["src.out -> sink.in"])
    ctx = RunContext(quiet=True)
    assert ctx.executor == ""
    run_graph(load_graph(g, {}), ctx, executor)
    assert ctx.executor == executor
