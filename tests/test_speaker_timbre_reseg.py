"""Resegmentation by timbre (nodes/speaker/timbre_reseg.py): late hand-overs and whole turns between alike voices."""

from __future__ import annotations

import numpy as np
import pytest

from nodes.speaker.diarizer_params import DiarizerParams
from nodes.speaker.timbre import N_CEPS, TimbreUbm
from nodes.speaker.timbre_reseg import ResegConfig, resegment, stretch_logliks


@pytest.fixture(scope="module")
def ubm() -> TimbreUbm:
    return TimbreUbm.load()


def _gauss_logpdf(x: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    return -0.5 * (np.sum((x[:, None, :] - mean[None]) ** 2 / var[None], axis=2) + np.sum(np.log(2 * np.pi * var), axis=1)[None])


def test_linear_scoring_is_the_frames_log_likelihood_difference(ubm: TimbreUbm) -> None:
    """With occupancies fixed by the background model, two models' score difference is exactly the frames' (no frames kept)."""
    rng = np.random.default_rng(3)
    x = ubm.means[rng.integers(0, len(ubm.means), 80)] + rng.normal(0, 0.3, size=(80, 2 * N_CEPS))
    a = ubm.means + rng.normal(0, 0.2, size=ubm.means.shape)
    b = ubm.means + rng.normal(0, 0.2, size=ubm.means.shape)
    gamma = ubm.posteriors(x)
    exact = float(np.sum(gamma * (_gauss_logpdf(x, a, ubm.variances) - _gauss_logpdf(x, b, ubm.variances))))
    stats = ubm.stats(x).astype(np.float64)
    linear = float(stretch_logliks(ubm, stats, a)[0] - stretch_logliks(ubm, stats, b)[0])
    assert linear == pytest.approx(exact, rel=1e-4)


def _meeting(ubm: TimbreUbm, plan: list[tuple[str, list[int]]], alike: bool, seed: int = 0
             ) -> tuple[list[str], np.ndarray, np.ndarray, list[int]]:
    """Stretches of three talkers, each 0.5 s (50 frames) about a cepstral centre of its own; ``plan``: (segment, talker per
    stretch). The embeddings of talkers 0 and 1 are one voice with noise (``alike``) or two orthogonal voices; talker 2's
    is a voice of its own (a meeting's mean voice between two alike talkers and someone else is not between the two)."""
    rng = np.random.default_rng(seed)
    shift = rng.normal(0, 1, size=2 * N_CEPS)
    centres = [ubm.means[0] - 0.4 * shift, ubm.means[0] + 0.4 * shift, ubm.means[1]]
    base = np.eye(64)[:3] * 3.0
    voices = [base[0], base[0], base[2]] if alike else [base[0], base[1], base[2]]
    segments, stats, vecs, truth = [], [], [], []
    for seg, talkers in plan:
        for spk in talkers:
            segments.append(seg)
            stats.append(ubm.stats(centres[spk] + rng.normal(0, 0.6, size=(50, 2 * N_CEPS))))
            vecs.append(voices[spk] + rng.normal(0, 0.3, size=64))
            truth.append(spk)
    return segments, np.array(stats, dtype=np.float64), np.array(vecs), truth


ZERO = np.zeros(64)  # the voices' centre: the synthetic embeddings are compared as they are

PLAN = [("a", [0] * 8), ("b", [1] * 8), ("c", [0] * 6 + [1] * 6), ("d", [1] * 6), ("e", [0] * 6), ("f", [2] * 8), ("g", [2] * 8)]


def test_a_late_hand_over_between_alike_voices_moves_to_where_the_timbre_changes(ubm: TimbreUbm) -> None:
    segments, stats, vecs, truth = _meeting(ubm, PLAN, alike=True)
    labels = list(truth)
    c = sum(len(t) for _, t in PLAN[:2])
    labels[c + 6 : c + 9] = [0, 0, 0]  # segment c's change placed three stretches late, as a 1.5 s window hears it
    assert resegment(segments, stats, vecs, labels, {}, {}, ubm, ZERO, ResegConfig()) == truth


def test_a_whole_turn_under_the_alike_voice_goes_back(ubm: TimbreUbm) -> None:
    segments, stats, vecs, truth = _meeting(ubm, PLAN, alike=True, seed=1)
    labels = list(truth)
    c = sum(len(t) for _, t in PLAN[:2])
    labels[c + 6 : c + 12] = [0] * 6  # one run for both talkers of segment c: the place and the voice never cut it
    assert resegment(segments, stats, vecs, labels, {}, {}, ubm, ZERO, ResegConfig()) == truth


def test_voices_the_encoder_tells_apart_keep_the_clustering(ubm: TimbreUbm) -> None:
    segments, stats, vecs, truth = _meeting(ubm, PLAN, alike=False, seed=2)
    labels = list(truth)
    c = sum(len(t) for _, t in PLAN[:2])
    labels[c + 6 : c + 12] = [0] * 6
    assert resegment(segments, stats, vecs, labels, {}, {}, ubm, ZERO, ResegConfig()) == labels
    assert resegment(segments, stats, vecs, labels, {}, {}, ubm, ZERO, ResegConfig(alike=-1.01)) == truth  # no gate: timbre decides


def test_a_label_needs_speech_behind_its_model(ubm: TimbreUbm) -> None:
    """Talker 1, heard only in segment c and labelled there for 3.5 s, takes its first stretches back; asked for more
    speech than that, it takes none, unless a remembered voice lends its label the statistics of earlier speech."""
    plan = [("a", [0] * 8), ("c", [0] * 6 + [1] * 10), ("e", [0] * 6), ("f", [2] * 8)]
    segments, stats, vecs, truth = _meeting(ubm, plan, alike=True, seed=4)
    labels = list(truth)
    labels[8 + 6 : 8 + 9] = [0, 0, 0]
    assert resegment(segments, stats, vecs, labels, {}, {}, ubm, ZERO, ResegConfig()) == truth
    strict = ResegConfig(min_s=4.0)
    assert resegment(segments, stats, vecs, labels, {}, {}, ubm, ZERO, strict) == labels
    ones = [i for i, t in enumerate(truth) if t == 1]
    earlier = stats[ones].sum(axis=0)  # as much again, remembered from before
    assert resegment(segments, stats, vecs, labels, {1: earlier}, {1: (vecs[ones].mean(axis=0), 10.0)}, ubm, ZERO, strict) == truth


def test_two_talkers_alone_resegment_too(ubm: TimbreUbm) -> None:
    """With nobody else heard, the two alike labels still compare as alike (about a fixed centre, not their own mean,
    about which any two labels alone are opposite)."""
    plan = [p for p in PLAN if p[0] not in ("f", "g")]
    segments, stats, vecs, truth = _meeting(ubm, plan, alike=True, seed=5)
    labels = list(truth)
    labels[16 + 6 : 16 + 12] = [0] * 6
    assert resegment(segments, stats, vecs, labels, {}, {}, ubm, ZERO, ResegConfig()) == truth


def test_resegmentation_settings_are_graph_parameters() -> None:
    p = DiarizerParams()
    assert p.ahc_reseg and (p.ahc_reseg_switch, p.ahc_reseg_stay, p.ahc_reseg_alike, p.ahc_reseg_min_s) == (
        ResegConfig.switch, ResegConfig.stay, ResegConfig.alike, ResegConfig.min_s)
    with pytest.raises(ValueError):
        DiarizerParams(ahc_reseg_alike=1.5)


def test_the_diarizer_moves_a_hand_over_between_alike_voices_inside_one_segment(ubm: TimbreUbm) -> None:
    """Through the node (mono): two talkers the encoder hears as one hand over inside a speech segment; refinement keeps
    them apart by timbre, and only resegmentation gives the second half of that segment to the second talker."""
    from dz_feed import feed_diarizer

    from pipeline import Embedding

    rng = np.random.default_rng(7)
    base = np.abs(rng.normal(size=(3, 256)))
    voices = [base[0], base[0] + 0.5 * base[2], base[1]]  # 0 and 1 alike (as in test_speaker_timbre's twins)
    shift = rng.normal(0, 1, size=2 * N_CEPS)
    centres = [ubm.means[0] - 1.2 * shift, ubm.means[0] + 1.2 * shift, ubm.means[1]]
    plan = [0, 1, 2, 0, 1, 2, 0, 1, 2, (0, 1), 2, 0, 1]  # who speaks each segment (4 s); (0, 1): 0 then 1 (3 s each)
    stream, truth, t = [], [], 0.0
    for k, who in enumerate(plan):
        talkers = [who[0]] * 6 + [who[1]] * 6 if isinstance(who, tuple) else [who] * 8
        for j, spk in enumerate(talkers):
            a = t + 0.5 * j
            # a window hears the 1.5 s ending with its stretch: after a hand-over, still the first talker for a while
            e = np.mean([voices[x] for x in talkers[max(0, j - 2) : j + 1]], axis=0) + 0.2 * np.abs(rng.normal(size=256))
            stats = ubm.stats(centres[spk] + rng.normal(0, 0.6, size=(50, 2 * N_CEPS)))
            stream.append((a + 0.5, "embeddings", Embedding((e / np.linalg.norm(e)).astype(np.float32), f"s{k}", "window",
                                                            max(t, a - 1.0), a + 0.5, a, timbre=stats)))
            truth.append((round(a, 2), spk))
        t += 0.5 * len(talkers) + 2.0

    def final(**params: object) -> dict[float, str]:
        _, sent = feed_diarizer(stream, location=False, method="embedding", **params)
        out: dict[float, str] = {}
        for turn in sent:
            if not turn.overlap:
                out[round(turn.t0, 2)] = turn.speaker
        return out

    def owners(labels: dict[float, str]) -> dict[int, str]:
        return {spk: max({labels[a] for a, s in truth if s == spk}, key=lambda lab: sum(labels[a] == lab for a, s in truth if s == spk))
                for spk in range(3)}

    handover = [a for a, _ in truth[9 * 8 + 6 : 9 * 8 + 12]]  # the second talker's half of segment 9
    on, off = final(), final(ahc_reseg=False)
    own = owners(on)
    assert len(set(own.values())) == 3 and all(on[a] == own[s] for a, s in truth)
    apart = owners(off)
    assert len(set(apart.values())) == 3 and sum(off[a] == apart[1] for a in handover) < len(handover)
