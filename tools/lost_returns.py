"""Why returns were lost: every return a diariser mode did not keep, on meetings the bench has cached.

The persistence target ("a talker silent for 10 s or more keeps their label when they speak
again") is counted by ``tools/bench_diarization.py``; this says, per lost return, what went
wrong, so that the next change is aimed at a cause rather than at a count. For each one:

* which of the two turns carries a label that is not the talker's own (the DER mapping's):
  the turn before, the return, or both; and whose label it carries instead (another present
  talker's, with that talker's voice and how far from the returner they stood; or a label
  no talker maps to: a spurious cluster);
* how much of the return the talker spoke alone (``alone``), and who spoke over the rest,
  at what angle; the cause is "under another talker" when the misnamed turn was spoken
  mostly under someone else, where one label per moment goes to one of the two;
* the talker's voice and whether they were walking;
* whom the voice alone names the misnamed turn (``bench_diarization.voice_names``: true turns,
  each named by the closest true talker's voice): when it names another talker too, the
  encoder cannot tell that turn and only where the talker stood can.

At the end, every return (kept or not) is counted by whether the diariser kept it and whether
the voice alone names both of its turns right: returns the system loses though the voice tells
them are the diariser's to win; returns both lose are beyond the encoder, left to location;
returns the system keeps though the voice cannot tell them are location's wins. The last line
counts the returns lost by whether the talker walks.

It reads the bench's cached meetings and front end (``--work`` as given to the bench, which
must have run those meetings first) and runs only the diariser, a few seconds a meeting, so
a whole set's lost returns are listed in a minute or two. Usage::

    python tools/lost_returns.py --work /tmp/meetflow_bench_dz --first 1 --meetings 36
    python tools/lost_returns.py --work /tmp/meetflow_bench_dz --first 113 --meetings 1 --mode pf+kahc-nohandover
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench_diarization as bench
import cached_meetings as cached

from nodes.sim.scenario import Scenario


@dataclass
class LostReturn:
    """One return not kept, and what its labels say about why."""

    talker: str
    before: tuple[float, float]
    back: tuple[float, float]
    label_before: str | None  # majority label of the turn before
    label_back: str | None  # ... and of the return
    own: str | None  # the talker's own label (DER mapping), None if no label maps to them
    alone: float  # share of the return the talker spoke alone
    alone_before: float  # ... and of the turn before
    owners: dict[str, str | None]  # label -> the reference talker it maps to (None: nobody's)
    by_voice: dict[str, str | None] = field(default_factory=dict)  # 'before'/'return' -> the talker the voice alone names it

    @property
    def wrong(self) -> str:
        """Which turn carries a label that is not the talker's own: 'before', 'return' or 'both'."""
        b, r = self.label_before != self.own, self.label_back != self.own
        return "both" if b and r else "before" if b else "return"

    @property
    def voice_says(self) -> str:
        """Whom the voice alone names the misnamed turn(s): 'theirs', another talker, or '?' (no window of its own)."""
        turns = ["before", "return"] if self.wrong == "both" else [self.wrong]
        said = [self.by_voice.get(k) for k in turns]
        if any(x is None for x in said):
            return "?"
        wrong = [x for x in said if x != self.talker]
        return wrong[0] if wrong else "theirs"

    @property
    def cause(self) -> str:
        """A coarse cause: the misnamed turn spoken mostly under another talker, a spurious label, or another talker's label."""
        alone = {"before": self.alone_before, "return": self.alone, "both": min(self.alone, self.alone_before)}[self.wrong]
        if alone < 0.5:
            return "under another talker"
        wrong = self.label_back if self.label_back != self.own else self.label_before
        return "a label of its own" if self.owners.get(wrong or "") is None else "another talker's label"


def lost_returns(ref: list[tuple[float, float, str]], turns: list[Any], silence_s: float = 10.0,
                 voice: dict[tuple[float, float, str], str] | None = None) -> list[LostReturn]:
    """Every return after ``silence_s`` of the talker's own silence whose majority label differs from the turn before's
    (``voice``: ``bench_diarization.voice_names`` of the meeting, to say whom the voice alone names each turn)."""
    from nodes.speaker.evaluate import speaker_mapping

    mine = speaker_mapping(ref, [(t.t0, t.t1, t.speaker) for t in turns if t.t1 > t.t0])
    owners: dict[str, str | None] = {lab: None for lab in {t.speaker for t in turns}}
    owners.update({lab: spk for spk, lab in mine.items()})
    out = []
    for spk, a0, b0, a1, b1 in bench._returns(ref, silence_s):
        same, before = bench._kept(turns, a0, b0, a1, b1)
        if not same:
            by_voice = {"before": voice.get((a0, b0, spk)), "return": voice.get((a1, b1, spk))} if voice else {}
            out.append(LostReturn(spk, (a0, b0), (a1, b1), before, bench._majority(turns, a1, b1), mine.get(spk),
                                  bench._alone_share(ref, spk, a1, b1), bench._alone_share(ref, spk, a0, b0), owners, by_voice))
    return out


def _apart(scene: Scenario, a: str, b: str, t: float) -> float:
    """Angle between two talkers at ``t`` as the array sees them (deg, 0-180)."""
    return abs((scene.azimuth(a, t) - scene.azimuth(b, t) + 180.0) % 360.0 - 180.0)


def _describe(scene: Scenario, talker: str) -> str:
    tk = scene.talker(talker)
    return f"{tk.voice}, {'walking' if tk.walking else 'seated'}"


def explain(lost: LostReturn, ref: list[tuple[float, float, str]], scene: Scenario) -> str:
    """One line on a lost return, in the talkers' terms."""
    mid = 0.5 * sum(lost.back)

    def whose(label: str | None, turn: tuple[float, float]) -> str:
        if label == lost.own:
            return "theirs"
        spk = lost.owners.get(label or "")
        if spk is None:
            return "nobody's"
        return f"{spk}'s: {scene.talker(spk).voice}, {_apart(scene, lost.talker, spk, 0.5 * sum(turn)):.0f} deg away"

    over = sorted({s for x, y, s in ref if s != lost.talker and y > lost.back[0] and x < lost.back[1]})
    under = ", ".join(f"{s} ({_apart(scene, lost.talker, s, mid):.0f} deg)" for s in over) or "nobody"
    (a0, b0), (a1, b1) = lost.before, lost.back
    said = lost.voice_says
    voice = said if said in ("theirs", "?") else f"{said}'s ({scene.talker(said).voice})"
    return (f"{lost.talker} ({_describe(scene, lost.talker)}) back at {a1:.1f} s after {a1 - b0:.1f} s: "
            f"before {a0:.1f}-{b0:.1f} {lost.label_before} ({whose(lost.label_before, lost.before)}), "
            f"return {a1:.1f}-{b1:.1f} {lost.label_back} ({whose(lost.label_back, lost.back)}); "
            f"alone {lost.alone:.0%} (the turn before {lost.alone_before:.0%}), over it {under}; by voice alone: {voice}  "
            f"[{lost.cause}; wrong: {lost.wrong}]")


def by_mobility(mobility: Counter[tuple[bool, bool]]) -> str:
    """Returns lost by whether the talker walks: ``mobility[(walks, kept)]`` counts every return.

    A walker's place when they speak again is where they walked to while silent, and on the way
    they pass close to seated talkers, where neither the place nor (for alike voices) the voice
    tells them apart; the rate per kind says how much of the loss is theirs.
    """
    parts = []
    for walks, name in ((True, "walkers"), (False, "seated talkers")):
        n = mobility[walks, True] + mobility[walks, False]
        lost = mobility[walks, False]
        parts.append(f"{name} {lost} of {n}" + (f" ({lost / n:.1%})" if n else ""))
    return "returns lost by who returns: " + ", ".join(parts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cached.add_arguments(ap)
    args = ap.parse_args()
    meetings = cached.cached_meetings(ap, args, "lost_returns")
    counts: Counter[str] = Counter()
    told: Counter[str] = Counter()  # lost returns by whether the voice alone names their misnamed turn right
    grid: Counter[tuple[bool, bool]] = Counter()  # every return: (the diariser kept it, the voice alone names both turns right)
    mobility: Counter[tuple[bool, bool]] = Counter()  # every return: (the talker walks, the diariser kept it)
    total = 0
    try:
        for meeting in meetings:
            folder, ref, front = meeting.folder, meeting.ref, meeting.front
            turns = bench.seen_after(bench.emissions(front, **meeting.params), float("inf"))
            scene = Scenario.model_validate_json((folder / "scenario.json").read_text())
            voice = bench.voice_names(bench.front_windows(front), ref)
            for spk, a0, b0, a1, b1 in bench._returns(ref, 10.0):
                total += 1
                heard = bench.voice_right(voice, (a0, b0, spk)) and bench.voice_right(voice, (a1, b1, spk))
                kept = bench._kept(turns, a0, b0, a1, b1)[0]
                grid[kept, heard] += 1
                mobility[scene.talker(spk).walking, kept] += 1
            for lost in lost_returns(ref, turns, voice=voice):
                counts[lost.cause] += 1
                said = lost.voice_says
                told["the voice alone names it right" if said == "theirs" else "no window of its own" if said == "?"
                     else "the voice alone names it another talker too"] += 1
                print(f"{folder.name} {explain(lost, ref, scene)}", flush=True)
    except cached.MissingCache as exc:
        print(exc, file=sys.stderr)
        return 2
    lost_n = sum(counts.values())
    print(f"\n{args.mode}: {lost_n} of {total} returns lost" + (": " + ", ".join(f"{n} {c}" for c, n in counts.most_common()) if lost_n else ""))
    if lost_n:
        print("  the misnamed turn: " + ", ".join(f"{n} {c}" for c, n in told.most_common()))
    print(f"every return, by the diariser and by the voice alone (true turns, each named by the closest true talker's voice):\n"
          f"  kept, the voice tells them: {grid[True, True]}; kept though the voice cannot (location's wins): {grid[True, False]}\n"
          f"  lost though the voice tells them (the diariser's to win): {grid[False, True]}; "
          f"lost, the voice cannot tell them either (beyond the encoder): {grid[False, False]}")
    print(by_mobility(mobility))
    return 0


if __name__ == "__main__":
    sys.exit(main())
