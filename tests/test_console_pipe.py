"""Piped console output: every word once, then '~ revised' blocks that a script can apply.

The diariser relabels final segments later and ``speaker.attribute`` splits a segment at a
change of talker and may merge it back; a plain line cannot be rewritten, so the console
prints each recogniser segment (a "stretch": the segment with all its pieces) once, after a
short hold, and later changes as correction blocks (see nodes/transcript/console.py).
"""

from __future__ import annotations

import re
import time

import pytest

from nodes.speaker.attribute import AttributeParams, SpeakerAttribution
from nodes.transcript.console import ConsoleParams, ConsoleSink, PipedTranscript, format_line
from nodes.transcript.state import TranscriptState
from pipeline import Packet, RunContext, SpeakerTurn, StreamInfo, TranscriptUpdate, Word

LINE = re.compile(r"^\[(\d+):(\d+\.\d) - (\d+):(\d+\.\d)\] (.*)$")
HEAD = re.compile(r"^~ revised \[(\d+):(\d+\.\d) - (\d+):(\d+\.\d)\]$")


def _t(m: str, s: str) -> float:
    return int(m) * 60 + float(s)


def apply_corrections(lines: list[str]) -> list[str]:
    """What a consumer of stdout does: '~ revised [A - B]' drops the earlier lines within A-B,
    the '~ ' lines after it take their place. Returns the lines in order of start time."""
    held: list[tuple[float, float, str]] = []
    for line in lines:
        if m := HEAD.match(line):
            a, b = _t(m[1], m[2]), _t(m[3], m[4])
            held = [x for x in held if not (x[0] >= a and x[1] <= b)]
            continue
        body = line[2:] if line.startswith("~ ") else line
        m = LINE.match(body)
        assert m, line
        held.append((_t(m[1], m[2]), _t(m[3], m[4]), body))
    return [x[2] for x in sorted(held)]


def _piece(sid: str, rev: int, spk: str | None, words: list[tuple[str, float, float]], split_of: str | None = None) -> TranscriptUpdate:
    ws = [Word(w, a, b, 0.9) for w, a, b in words]
    extra = {"split_of": split_of} if split_of else {}
    return TranscriptUpdate(sid, "final", ws[0].t0, ws[-1].t1, " ".join(w for w, _, _ in words), ws, spk, rev, extra=extra)


def _gone(sid: str, rev: int) -> TranscriptUpdate:
    return TranscriptUpdate(sid, "final", 0.0, 0.0, "", [], None, rev)


W = [("I", 1.0, 1.2), ("agree", 1.3, 1.7), ("with", 1.8, 2.0), ("the", 2.1, 2.2), ("budget", 2.3, 2.8), ("for", 3.0, 3.2),
     ("the", 3.3, 3.4), ("team.", 3.5, 3.9)]


def _split_in_three(p: PipedTranscript, at: float) -> None:
    p.update(at, _piece("s1.0", 1, "spk1", W[:2], "s1"))
    p.update(at, _piece("s1.1", 1, "spk2", W[2:5], "s1"))
    p.update(at, _piece("s1.2", 1, "spk3", W[5:], "s1"))


def test_split_then_merged_whole_prints_words_once_and_one_correction() -> None:
    """The audit's case: three pieces (spk1, spk2, spk3) printed, then the segment relabelled
    whole as spk2: its words are not printed again as a plain line, spk3 is withdrawn."""
    p = PipedTranscript(hold_s=2.0)
    _split_in_three(p, 4.0)
    assert p.due() == []  # held
    p.update(5.0, TranscriptUpdate("s2", "partial", 4.5, 5.0, "next", [], "spk2", 0))
    assert p.due() == []  # 1 s of the 2 s hold
    p.update(6.5, TranscriptUpdate("s2", "partial", 4.5, 6.5, "next one", [], "spk2", 1))
    printed = p.due()
    assert printed == ["[00:01.0 - 00:01.7] spk1: I agree", "[00:01.8 - 00:02.8] spk2: with the budget",
                       "[00:03.0 - 00:03.9] spk3: for the team."]
    # the refinement pass, 15 s later: the whole segment is spk2 again (pieces retracted)
    p.update(19.0, _piece("s1", 5, "spk2", W))
    for k in range(3):
        p.update(19.0, _gone(f"s1.{k}", 2))
    assert p.due() == []  # a burst at one media time may not be over yet
    p.update(21.5, TranscriptUpdate("s2", "partial", 4.5, 7.0, "next one", [], "spk2", 2))
    correction = p.due()
    assert correction == ["~ revised [00:01.0 - 00:03.9]", "~ [00:01.0 - 00:03.9] spk2: I agree with the budget for the team."]
    assert apply_corrections(printed + correction) == ["[00:01.0 - 00:03.9] spk2: I agree with the budget for the team."]
    assert p.flush() == []


def test_revisions_within_the_hold_are_never_shown() -> None:
    p = PipedTranscript(hold_s=2.0)
    _split_in_three(p, 4.0)
    p.update(5.0, _piece("s1", 2, "spk2", W))  # the diariser's lag smoothing, a second later
    for k in range(3):
        p.update(5.0, _gone(f"s1.{k}", 2))
    p.update(6.2, TranscriptUpdate("s2", "partial", 5.5, 6.0, "so", [], "spk2", 0))
    assert p.due() == ["[00:01.0 - 00:03.9] spk2: I agree with the budget for the team."]
    p.update(30.0, TranscriptUpdate("s2", "partial", 5.5, 6.0, "so", [], "spk2", 1))
    assert p.due() == [] and p.flush() == []  # nothing changed since


def test_back_to_what_was_printed_needs_no_correction_and_stale_revisions_are_ignored() -> None:
    p = PipedTranscript(hold_s=0.0)
    p.update(4.0, _piece("s1", 3, "spk1", W))
    p.update(4.5, TranscriptUpdate("s2", "partial", 4.2, 4.5, "x", [], None, 0))
    assert p.due() == ["[00:01.0 - 00:03.9] spk1: I agree with the budget for the team."]
    p.update(5.0, _piece("s1", 2, "spk9", W))  # stale
    p.update(6.0, _piece("s1", 4, "spk2", W))
    p.update(6.0, _piece("s1", 5, "spk1", W))  # flicker and back within one burst
    p.update(7.0, TranscriptUpdate("s2", "partial", 4.2, 4.5, "x", [], None, 1))
    assert p.due() == [] and p.flush() == []


def test_a_withdrawn_segment_gets_an_empty_correction_and_flush_prints_the_rest() -> None:
    p = PipedTranscript(hold_s=1.0)
    p.update(4.0, _piece("s1", 1, "spk1", W))
    p.update(4.0, TranscriptUpdate("s0", "final", 0.0, 0.0, "", [], None, 3))  # a partial that came to nothing
    p.update(5.5, _piece("s2", 1, "spk2", [("later", 5.0, 5.4)]))
    assert p.due() == ["[00:01.0 - 00:03.9] spk1: I agree with the budget for the team."]
    p.update(8.0, _gone("s1", 2))
    assert p.flush() == ["~ revised [00:01.0 - 00:03.9]", "[00:05.0 - 00:05.4] spk2: later"]  # in order of time
    assert apply_corrections(["[00:01.0 - 00:03.9] spk1: I agree with the budget for the team.",
                              "[00:05.0 - 00:05.4] spk2: later", "~ revised [00:01.0 - 00:03.9]"]) == ["[00:05.0 - 00:05.4] spk2: later"]


def test_without_corrections_each_segment_is_printed_once() -> None:
    p = PipedTranscript(hold_s=0.0, corrections=False)
    _split_in_three(p, 4.0)
    p.update(5.0, TranscriptUpdate("s2", "partial", 4.5, 5.0, "next", [], "spk2", 0))
    lines = p.due()
    p.update(19.0, _piece("s1", 5, "spk2", W))
    for k in range(3):
        p.update(19.0, _gone(f"s1.{k}", 2))
    lines += p.due() + p.flush()
    assert len(lines) == 3 and not any(x.startswith("~") for x in lines)


def _attribute_then_console(capsys: pytest.CaptureFixture[str], **params: object) -> tuple[SpeakerAttribution, ConsoleSink, list[TranscriptUpdate]]:
    ctx = RunContext()
    attr = SpeakerAttribution("attribute", AttributeParams(), ctx)
    attr.configure({"transcript": StreamInfo(), "turns": StreamInfo()})
    attr.open()
    console = ConsoleSink("console", ConsoleParams(**params), ctx)  # type: ignore[arg-type]
    console.open()
    seen: list[TranscriptUpdate] = []

    def emit(port: str, packet: Packet) -> None:
        seen.append(packet.payload)
        console.process("transcript", packet)

    attr.emit = emit  # type: ignore[method-assign]
    return attr, console, seen


def test_console_node_after_speaker_attribution_matches_the_files(capsys: pytest.CaptureFixture[str]) -> None:
    """Real revisions from speaker.attribute (splits, relabels, a merge back): the plain lines
    hold every word once, and applying the corrections gives exactly the final transcript."""
    attr, console, seen = _attribute_then_console(capsys)

    def turn(i: int, spk: str, t0: float, t1: float, rev: int, at: float) -> None:
        attr.process("turns", Packet(at, at, SpeakerTurn(f"dz-{i}", spk, t0, t1, None, None, rev)))

    for i, (spk, a, b) in enumerate([("spk1", 0.0, 1.75), ("spk2", 1.75, 2.9), ("spk3", 2.9, 4.5)]):
        turn(i, spk, a, b, 0, 4.0)
    words = [Word(w, a, b, 0.9) for w, a, b in W]
    attr.process("transcript", Packet(4.2, 4.2, TranscriptUpdate("asr-1", "final", 1.0, 3.9, "I agree with the budget for the team.", words, revision=3)))
    more = [Word("right", 6.0, 6.4, 0.9)]
    turn(3, "spk1", 5.5, 6.5, 0, 6.5)
    attr.process("transcript", Packet(6.6, 6.6, TranscriptUpdate("asr-2", "final", 6.0, 6.4, "right", more, revision=1)))
    for i, (spk, a, b) in enumerate([("spk2", 0.0, 1.75), ("spk2", 1.75, 2.9), ("spk2", 2.9, 4.5), ("spk1", 5.5, 6.5)]):
        turn(i, spk, a, b, 1, 19.0)  # the refinement pass: the first segment is one talker's
    console.flush()
    console.close()
    out = capsys.readouterr().out.splitlines()
    plain = [x for x in out if not x.startswith("~")]
    assert [x.split(": ", 1)[1] for x in plain] == ["I agree", "with the budget", "for the team.", "right"]
    assert any(x.startswith("~ revised") for x in out)
    final = [format_line(u) for u in TranscriptState.from_updates(seen).finals()]
    assert apply_corrections(out) == final == ["[00:01.0 - 00:03.9] spk2: I agree with the budget for the team.",
                                               "[00:06.0 - 00:06.4] spk1: right"]


def test_console_node_prints_nothing_when_quiet_and_hands_terminal_views_the_updates(capsys: pytest.CaptureFixture[str]) -> None:
    class View:
        prints_finals = True

        def __init__(self) -> None:
            self.got: list[object] = []

        def update(self, u: object) -> None:
            self.got.append(u)

    ctx = RunContext()
    view = View()
    ctx.views.append(view)  # type: ignore[arg-type]
    node = ConsoleSink("console", ConsoleParams(), ctx)
    node.open()
    node.process("transcript", Packet(4.0, 4.0, _piece("s1", 1, "spk1", W)))
    node.flush()
    assert len(view.got) == 1 and capsys.readouterr().out == ""
    quiet = RunContext(quiet=True)
    node = ConsoleSink("console", ConsoleParams(hold_s=0), quiet)
    node.open()
    node.process("transcript", Packet(4.0, 4.0, _piece("s1", 1, "spk1", W)))
    node.flush()
    assert capsys.readouterr().out == ""


def test_live_lines_come_after_the_hold_even_in_a_silence(capsys: pytest.CaptureFixture[str]) -> None:
    """Live input: no later update may come for a long while (a pause in the meeting), so the
    wall clock releases a held line once the input's media time has passed its hold."""
    ctx = RunContext(live=True)
    ctx.clock.start(time.time() - 4.0)  # media time 4.0 s is now
    node = ConsoleSink("console", ConsoleParams(hold_s=0.5), ctx)
    node.open()
    node.process("transcript", Packet(3.9, 3.9, _piece("s1", 1, "spk1", W)))
    assert capsys.readouterr().out == ""
    deadline = time.time() + 3.0
    out = ""
    while time.time() < deadline and not out:
        time.sleep(0.1)
        out = capsys.readouterr().out
    node.flush()
    node.close()
    assert out == "[00:01.0 - 00:03.9] spk1: I agree with the budget for the team.\n"
    assert capsys.readouterr().out == ""  # not again at the end
