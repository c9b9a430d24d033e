"""tools/cached_meetings.py: the diagnostic tools' loop over the bench's cached meetings."""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import cached_meetings as cached


def _meeting(work: Path, seed: int, talkers: int) -> None:
    folder = work / f"sim{seed}"
    folder.mkdir(parents=True)
    rows = [f"SPEAKER sim{seed} 1 {2.0 * k:.2f} 1.50 <NA> <NA> spk{k + 1} <NA> <NA>" for k in range(talkers)]
    (folder / "reference.rttm").write_text("\n".join(rows) + "\n")
    (folder / "front_superdirective_v3.pkl").write_bytes(pickle.dumps({"seed": seed}))


def _args(work: Path, *extra: str) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    ap = argparse.ArgumentParser()
    cached.add_arguments(ap)
    return ap, ap.parse_args(["--work", str(work), *extra])


def test_each_meeting_is_loaded_with_its_own_number_of_people_when_the_mode_is_told_it(tmp_path: Path) -> None:
    _meeting(tmp_path, 1, 3)
    _meeting(tmp_path, 2, 4)
    ap, args = _args(tmp_path, "--first", "1", "--meetings", "2", "--mode", "pf+kahc-known")
    got = list(cached.cached_meetings(ap, args, "tool"))
    assert [m.front["seed"] for m in got] == [1, 2]
    assert [m.params["speakers"] for m in got] == [3, 4]  # not the first meeting's number carried on
    assert [len(m.ref) for m in got] == [3, 4] and got[0].ref[0] == (0.0, 1.5, "spk1")
    ap, args = _args(tmp_path, "--meetings", "1")
    (plain,) = cached.cached_meetings(ap, args, "tool")
    assert "speakers" not in plain.params and "front" not in plain.params


def test_a_meeting_not_cached_says_how_to_cache_it_and_an_unknown_mode_is_a_usage_error(tmp_path: Path,
                                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    _meeting(tmp_path, 1, 3)
    ap, args = _args(tmp_path, "--meetings", "2")
    with pytest.raises(cached.MissingCache, match=r"tool: .*sim2/front_superdirective_v3.pkl is missing: run tools/bench_diarization.py "
                                                  r"--first 2 --meetings 1"):
        list(cached.cached_meetings(ap, args, "tool"))
    ap, args = _args(tmp_path, "--mode", "no-such-mode")
    with pytest.raises(SystemExit) as exit_info:
        cached.mode_params(ap, args)
    assert exit_info.value.code == 2 and "unknown mode 'no-such-mode'" in capsys.readouterr().err
