"""The direction filters compiled by numba give the numbers their plain Python gives, bit for bit.

Refinement compares merge scores and picks the largest; a last-bit difference between the
compiled walk (``nodes/speaker/_compiled.py``) and the same code run as Python could flip a tie
and change a label. A process started with ``MEETFLOW_NO_NUMBA=1`` runs the plain code.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from direction_turns import random_turns

from nodes.speaker import _compiled
from nodes.speaker.direction_track import Motion, Track, merged_loglik, pair_llr
from nodes.speaker.kalman_ahc import AhcConfig


def scores() -> list[float]:
    """Own and merged log likelihoods (walking, seated, with floors) of random pairs of direction sequences."""
    rng = np.random.default_rng(11)
    out: list[float] = []
    for config in (AhcConfig(), AhcConfig(away=0.3, away_gap_s=4.0)):
        walk, seated = Motion.of(config), Motion.seated(config)
        assert seated is not None
        for _ in range(60):
            a, b = random_turns(rng, int(rng.integers(1, 6))), random_turns(rng, int(rng.integers(1, 4)))
            ta, tb = Track(a, walk, bounded=True), Track(b, walk, bounded=True)
            merged, handovers = merged_loglik(ta, tb, walk)
            out += [ta.loglik, tb.loglik, merged, float(handovers)]
            out += [merged_loglik(ta, tb, walk, floor=merged + d)[0] for d in (-3.0, 1e-6, 40.0)]
            sa, sb = Track(a, seated, bounded=True), Track(b, seated, bounded=True)
            out += [sa.loglik, merged_loglik(sa, sb, seated)[0], merged_loglik(sa, sb, seated, floor=merged - 20.0)[0]]
            out += [pair_llr(ta, tb, walk), pair_llr(ta, tb, walk, sa, sb, seated, -20.0), *sa.best.tolist()]
    return out


@pytest.mark.skipif(not _compiled.COMPILED, reason="numba is not installed: the filters run as plain Python only")
def test_compiled_filters_give_the_plain_numbers_exactly() -> None:
    here = Path(__file__).resolve().parent
    code = f"import json, sys; sys.path.insert(0, {str(here)!r}); import {Path(__file__).stem} as t; print(json.dumps(t.scores()))"
    env = {**os.environ, "MEETFLOW_NO_NUMBA": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, check=True)
    plain = json.loads(done.stdout.strip().splitlines()[-1])
    compiled = scores()
    assert len(plain) == len(compiled)
    assert all(math.isfinite(x) for x in compiled)
    assert plain == compiled  # json keeps a float's every bit (repr round-trips)


def test_without_numba_the_decorator_leaves_functions_as_written() -> None:
    def f(x: float) -> float:
        return 2 * x

    assert _compiled._plain(f) is f
    assert _compiled._plain(cache=True)(f) is f


def test_a_pairs_ratio_in_one_call_is_the_two_walks_and_their_sums() -> None:
    # ``pair_llr`` walks the walking and the seated merge in one compiled call; it must give
    # exactly what two ``merged_loglik`` calls and the sums in Python give (refinement's scores
    # were measured that way, and a last-bit change could flip a merge).
    rng = np.random.default_rng(5)
    config = AhcConfig()
    walk, seated = Motion.of(config), Motion.seated(config)
    assert seated is not None
    prior = config.seated_prior
    for _ in range(80):
        a, b = random_turns(rng, int(rng.integers(1, 6))), random_turns(rng, int(rng.integers(1, 4)))
        ta, tb = Track(a, walk), Track(b, walk)
        sa, sb = Track(a, seated, bounded=True), Track(b, seated, bounded=True)
        merged, handovers = merged_loglik(ta, tb, walk)
        assert pair_llr(ta, tb, walk) == (merged - ta.loglik - tb.loglik) / max(handovers, 1)
        sitting = max(merged, merged_loglik(sa, sb, seated, floor=merged - prior)[0] + prior)
        own_a, own_b = max(ta.loglik, sa.loglik + prior), max(tb.loglik, sb.loglik + prior)
        assert pair_llr(ta, tb, walk, sa, sb, seated, prior) == (sitting - own_a - own_b) / max(handovers, 1)
    with pytest.raises(ValueError, match="bounded"):
        pair_llr(ta, tb, walk, ta, tb, seated, prior)
