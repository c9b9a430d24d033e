"""Live labels named by voice (nodes/speaker/voice_check.py): the run's voice, not its first window, names it."""

from __future__ import annotations

import numpy as np

from dz_feed import feed_diarizer
from nodes.speaker.timbre import TimbreUbm
from nodes.speaker.units import Unit
from nodes.speaker.voice_check import RunVoiceCheck, VoiceCheckConfig, mean_voices

DIM = 256


def _voice(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=DIM)
    return v / np.linalg.norm(v)


def _unit(i: int, vector: np.ndarray, segment: str = "s1") -> Unit:
    return Unit(i, 0.5 * i, 0.5 * i + 0.5, vector.astype(np.float32), 0.5 * i - 1.0, segment)


def _known(rng: np.random.Generator, *voices: np.ndarray, stretches: int = 10) -> dict[int, tuple[np.ndarray, int]]:
    """Labels 0, 1, ... shown on ``stretches`` noisy stretches of each voice."""
    rows = [v + 0.3 * rng.normal(size=DIM) / np.sqrt(DIM) for v in voices for _ in range(stretches)]
    return mean_voices(np.array(rows), [k for k in range(len(voices)) for _ in range(stretches)])


def test_a_run_is_named_by_the_speaker_it_sounds_like_and_keeps_that_name() -> None:
    rng = np.random.default_rng(0)
    a, b = _voice(rng), _voice(rng)
    check = RunVoiceCheck(VoiceCheckConfig(stretches=3))
    known = _known(rng, a, b)
    # the live filter says talker 0 (heard at their place, say); the voice is talker 1's
    shown = [check.label(_unit(i, b + 0.1 * rng.normal(size=DIM) / 16), 0, lambda: known)[0] for i in range(5)]
    assert shown == [1] * 5 and check.changed == 0  # named at once, never changed
    assert check.shown(3, 0) == 1  # the filter re-sending its own label for the run: the run's name stands
    assert check.shown(3, 2) == 2  # the filter moved the stretch to another talker: that is a new decision, not the run's
    assert check.shown(99, 0) == 0  # a stretch of no run: the filter's label
    # past its first 3 stretches the run keeps its name, whatever its later windows sound like
    assert check.label(_unit(5, a), 0, lambda: known) == (1, [])


def test_the_name_follows_the_voice_as_the_run_says_more_and_earlier_stretches_are_resent() -> None:
    rng = np.random.default_rng(1)
    a, b = _voice(rng), _voice(rng)
    check = RunVoiceCheck()
    known = _known(rng, a, b)
    assert check.label(_unit(0, a), 0, lambda: known) == (0, [])  # a short first window that sounds like talker 0
    assert check.label(_unit(1, b), 0, lambda: known) == (0, [])  # a + b: as close to either; the filter's choice stands
    label, resend = check.label(_unit(2, b), 0, lambda: known)
    assert (label, resend) == (1, [0, 1]) and check.changed == 1  # the voice decides: the whole run is re-sent under talker 1


def test_a_new_talker_stays_new_unless_their_voice_is_a_known_ones() -> None:
    rng = np.random.default_rng(2)
    a, b, c = _voice(rng), _voice(rng), _voice(rng)
    known = _known(rng, a, b)
    check = RunVoiceCheck()
    assert check.label(_unit(0, c), 2, lambda: known)[0] == 2  # a new voice: some known one is closest, but not close enough
    check.reset()
    assert check.label(_unit(10, a + 0.05 * rng.normal(size=DIM) / 16, "s2"), 2, lambda: known)[0] == 0  # talker 0 taken for new
    few = _known(rng, a, b, stretches=2)  # too little heard of anyone to compare with
    check.reset()
    assert check.label(_unit(20, b, "s3"), 0, lambda: few)[0] == 0


def test_a_new_segment_or_a_new_live_label_starts_a_new_run() -> None:
    rng = np.random.default_rng(3)
    a, b = _voice(rng), _voice(rng)
    known = _known(rng, a, b)
    check = RunVoiceCheck(VoiceCheckConfig(stretches=1))
    assert check.label(_unit(0, b), 0, lambda: known)[0] == 1
    assert check.label(_unit(1, a), 0, lambda: known)[0] == 1  # same run, decided
    assert check.label(_unit(2, a, "s2"), 0, lambda: known)[0] == 0  # a new segment: decided afresh
    assert check.label(_unit(3, b, "s2"), 1, lambda: known)[0] == 1  # the filter changed talker: a new run
    check.reset()  # a refinement pass relabelled the past
    assert check.shown(3, 1) == 1 and check.label(_unit(4, a, "s2"), 1, lambda: known)[0] == 0


def test_mean_voices_add_remembered_voices_to_the_shown_ones() -> None:
    rng = np.random.default_rng(4)
    a, b = _voice(rng), _voice(rng)
    got = mean_voices(np.array([a, a, b]), [0, 0, 1], {1: (3 * b, 3), 2: (4 * a, 4)})
    assert {k: v.stretches for k, v in got.items()} == {0: 2, 1: 4, 2: 4}
    assert all(abs(float(np.linalg.norm(v.mean)) - 1.0) < 1e-9 for v in got.values())
    assert float(got[1].mean @ b) > 0.999 and float(got[2].mean @ a) > 0.999


def test_a_voices_fit_is_how_well_its_own_stretches_agree_with_it() -> None:
    """The bar a new talker's run must clear to join a known speaker is set by that speaker's own spread."""
    rng = np.random.default_rng(5)
    a, b, c = _voice(rng), _voice(rng), _voice(rng)
    tight = [a + 0.1 * rng.normal(size=DIM) / np.sqrt(DIM) for _ in range(20)]
    loose = [b + 0.8 * rng.normal(size=DIM) / np.sqrt(DIM) for _ in range(20)]
    got = mean_voices(np.array(tight + loose + [c, c]), [0] * 20 + [1] * 20 + [2, 2], {3: (5 * c, 5)}, quantile=25.0)
    assert 0.99 < got[0].fit < 1.0 and 0.7 < got[1].fit < 0.85
    assert np.isclose(got[3].fit, np.median([got[0].fit, got[1].fit]))  # remembered only: as the others agree
    assert np.isclose(got[2].fit, got[3].fit)  # two stretches: too few to measure, taken as typical
    # so the same run joins the loose speaker, but not the tight one
    check = RunVoiceCheck()
    near_b = b + 0.5 * rng.normal(size=DIM) / np.sqrt(DIM)
    assert check.label(_unit(0, near_b), 9, lambda: got)[0] == 1
    check.reset()
    near_a = a + 0.5 * rng.normal(size=DIM) / np.sqrt(DIM)
    assert check.label(_unit(1, near_a), 9, lambda: got)[0] == 9


def _seated_pair_stream(rng: np.random.Generator) -> list[tuple[float, str, object]]:
    """A sits at 30 deg, B at -120 deg; each speaks twice, then B speaks from A's seat (12-16 s). Their voices are
    as alike as two people's usually are to the encoder (cosine 0.75)."""
    from pipeline import DirectionEstimate, Embedding

    a, other = _voice(rng), _voice(rng)
    other -= (other @ a) * a
    voice = {0: a, 1: 0.75 * a + np.sqrt(1 - 0.75**2) * other / np.linalg.norm(other)}
    plan = [(0, 0.0, 4.0, 30.0), (1, 4.5, 8.0, -120.0), (0, 8.5, 11.0, 30.0), (1, 12.0, 16.0, 30.0)]
    out: list[tuple[float, str, object]] = []
    for spk, a, b, az in plan:
        t = a
        while t < b - 1e-9:
            e = voice[spk] + 0.3 * rng.normal(size=DIM) / np.sqrt(DIM)
            out.append((t + 0.5, "embeddings", Embedding((e / np.linalg.norm(e)).astype(np.float32), f"seg{a}", "window",
                                                         max(a, t - 1.0), t + 0.5, t)))
            t += 0.5
        t = a
        while t < b - 1e-9:
            out.append((t + 0.16, "directions", (t, DirectionEstimate(np.array([az + rng.normal(0, 2)]), np.array([0.9]), 0.9))))
            t += 0.16
    return sorted(out, key=lambda x: (x[0], x[1] == "embeddings"))


def _diarize(**params: object) -> tuple[object, list[object]]:
    return feed_diarizer(_seated_pair_stream(np.random.default_rng(5)), method="particle", **params)


def test_diarizer_shows_a_talker_heard_from_anothers_seat_under_their_own_label_live() -> None:
    """The live filter names B's speech from A's seat A (the place outweighs the voice), or a new talker; the voice
    check shows B as stretches are first sent, the filter's later re-sends do not undo it, and refinement's labels are
    the same either way."""
    for refine in (False, True):
        node, sent = _diarize(refine=refine)
        off, sent_off = _diarize(refine=refine, voice_check=False)
        assert node.voice_check is not None and off.voice_check is None

        def first_and_last(turns: list[object]) -> tuple[dict[str, str], dict[str, str]]:
            first: dict[str, str] = {}
            last: dict[str, str] = {}
            for t in turns:
                if t.overlap or t.t1 <= t.t0:
                    continue
                first.setdefault(t.turn_id, t.speaker)
                last[t.turn_id] = t.speaker
            return first, last

        first, last = first_and_last(sent)
        first_off, last_off = first_and_last(sent_off)
        t0 = {t.turn_id: t.t0 for t in sent}
        b = {last[k] for k in last if 4.5 <= t0[k] < 8.0}
        late = [k for k in first if t0[k] >= 12.0]
        assert len(b) == 1 and len(late) >= 6
        shown = np.mean([first[k] in b for k in late])
        assert shown >= 0.75 and shown > np.mean([first_off[k] in b for k in late])  # as first sent: B's by voice; the filter
        # alone gives A's label from A's seat, or a new talker's (by voice too, a single stretch may stay new: birth_quantile)
        assert all(last[k] in b for k in late)  # and after the filter's smoothing moved stretches between its labels
        if refine:
            assert last == last_off  # refinement decides the final labels, voice check or not
        else:
            assert not all(last_off[k] in b for k in late)


def test_timbre_names_a_run_between_voices_the_encoder_hears_alike() -> None:
    """Two labels whose embeddings nearly coincide (en-us+m3 and en-gb-x-rp+m1 to the GE2E encoder) and whose
    cepstra differ: a run whose embedding leans a hair towards one and whose timbre is the other's takes the other."""
    ubm = TimbreUbm.load()
    rng = np.random.default_rng(7)
    dims = ubm.means.shape[1]
    shift = rng.normal(size=dims)
    centres = [ubm.means[0] - 0.4 * shift / np.linalg.norm(shift), ubm.means[0] + 0.4 * shift / np.linalg.norm(shift)]

    def stats(talker: int) -> np.ndarray:  # one 0.5 s stretch's statistics
        return ubm.stats(centres[talker] + rng.normal(0, 0.6, size=(50, dims)))

    a = _voice(rng)
    b = a + 0.05 * _voice(rng)
    b /= np.linalg.norm(b)
    rows = [v + 0.05 * rng.normal(size=DIM) / np.sqrt(DIM) for v in (a, b) for _ in range(10)]
    labels = [k for k in (0, 1) for _ in range(10)]
    known = mean_voices(np.array(rows), labels, timbres=[stats(k) for k in labels])
    assert all(v.timbre is not None for v in known.values())
    run = Unit(0, 0.0, 0.5, a.astype(np.float32), -1.0, "s1", timbre=stats(1))  # sounds like a to the encoder, timbre of b
    assert RunVoiceCheck(VoiceCheckConfig(timbre_weight=0.0)).label(run, 0, lambda: known)[0] == 0  # the embeddings alone: a
    assert RunVoiceCheck(VoiceCheckConfig(), ubm).label(run, 0, lambda: known)[0] == 1  # with timbre: b
    assert RunVoiceCheck(VoiceCheckConfig(), ubm).label(run, 1, lambda: known)[0] == 1


def test_a_remembered_voice_lends_the_voice_check_its_timbre() -> None:
    ubm = TimbreUbm.load()
    total = ubm.stats(ubm.means[3] + np.random.default_rng(8).normal(0, 0.5, size=(200, ubm.means.shape[1])))
    rng = np.random.default_rng(9)
    v = _voice(rng)
    known = mean_voices(np.array([v] * 3), [0, 0, 0], {1: (v * 4, 4)}, timbres=[None, None, None], extra_timbre={1: total})
    assert known[0].timbre is None and known[1].timbre is not None and np.allclose(known[1].timbre, total)
