"""speaker.embedding's windows label each stretch of speech once, also where the VAD splits a long segment."""

from __future__ import annotations

from pathlib import Path

from conftest import SCRIPT, capture


def test_windows_label_every_stretch_once_across_vad_splits(tmp_path: Path, meeting_wav) -> None:
    # The VAD splits a segment that reaches max_segment_s at its quietest point in its second
    # half: the open segment ends there, in the past, and the audio after it is sent again as
    # the next segment. Windows sent before the split already labelled that audio; labelling
    # it again gave the diariser two turns at once (measured: up to 11 s of a 90 s meeting,
    # all of it false alarm).
    path, _ = meeting_wav
    packets, _ = capture(
        [{"id": "src", "type": "io.audio_file", "params": {"path": str(path), "rate": 16000, "block_ms": 20}},
         {"id": "vad", "type": "speech.vad", "params": {"max_segment_s": 2.0}},
         {"id": "embed", "type": "speaker.embedding", "params": {"segments": False}},
         {"id": "sink"}],
        ["src.audio -> vad.audio", "vad.speech -> embed.speech", "embed.windows -> sink.in"],
        tmp_path,
    )
    wins = [p.payload for p in packets if p.payload.kind == "window"]
    # A segment that closed on a silence before the point its windows had reached says where (an "end" marker, no
    # audio): inside the stretch of its own last window. Splits close on speech and send none.
    ends = [(before.payload, p.payload) for before, p in zip(packets, packets[1:]) if p.payload.kind == "end"]
    assert ends and len(ends) <= len(SCRIPT)
    assert all(w.segment_id == e.segment_id and w.new_from < e.end < w.end and e.vector.size == 0 for w, e in ends)
    stretches = sorted((w.new_from, w.end, w.segment_id) for w in wins)
    assert all(b > a for a, b, _ in stretches)
    assert all(b[0] >= a[1] - 1e-9 for a, b in zip(stretches, stretches[1:])), "a stretch was labelled twice"
    # gaps only in the pauses between the five sentences; each split hands over without one
    pairs = list(zip(stretches, stretches[1:]))
    assert sum(1 for a, b in pairs if b[0] > a[1] + 1e-9) == len(SCRIPT) - 1
    assert sum(1 for a, b in pairs if abs(b[0] - a[1]) < 1e-9 and a[2] != b[2]) >= 5  # sentences of 3-5 s split every 2 s or less
    assert [p.t0 for p in packets] == sorted(p.t0 for p in packets)


def test_windows_carry_the_talkers_pitch(tmp_path: Path, meeting_wav) -> None:
    """Each window says its talker's pitch: en-us+m3 (alice) speaks higher than en-gb-x-rp+m1 (bob)."""
    import numpy as np

    path, conv = meeting_wav

    def run(port: str, pitch: bool, where: str) -> list:
        (tmp_path / where).mkdir()
        graph = [{"id": "src", "type": "io.audio_file", "params": {"path": str(path), "rate": 16000, "block_ms": 20}},
                 {"id": "vad", "type": "speech.vad"},
                 {"id": "embed", "type": "speaker.embedding", "params": {"segments": port == "segments", "pitch": pitch}},
                 {"id": "sink"}]
        edges = ["src.audio -> vad.audio", "vad.speech -> embed.speech", f"embed.{port} -> sink.in"]
        return [p.payload for p in capture(graph, edges, tmp_path / where)[0]]

    by: dict[str, list[float]] = {}
    for e in run("windows", True, "on"):
        if e.kind == "window" and e.pitch is not None:
            assert 0.2 <= e.voiced_s <= e.end - e.start + 1e-6
            who = [t.speaker for t in conv.turns if t.t0 - 0.1 <= e.start and e.end <= t.t1 + 0.1]
            if who:
                by.setdefault(who[0], []).append(e.pitch)
    assert len(by["alice"]) >= 5 and len(by["bob"]) >= 5
    assert np.median(by["alice"]) - np.median(by["bob"]) > 0.08  # octaves (about 105 against 95 Hz)
    assert all(2**p > 60 for p in by["alice"] + by["bob"])
    segments = run("segments", True, "segments")
    assert segments and all(s.kind == "segment" and s.pitch is not None for s in segments)
    assert all(e.pitch is None and e.voiced_s == 0.0 for e in run("windows", False, "off"))


def test_windows_carry_the_timbre_of_their_new_stretch(tmp_path: Path, meeting_wav) -> None:
    """Each window's timbre statistics cover its new stretch's frames once; halves of one talker's speech agree more
    with each other than with the other talker's (en-us+m3 against en-gb-x-rp+m1, the pair the encoder confuses)."""
    import numpy as np

    from nodes.speaker.timbre import TimbreUbm
    from nodes.speaker.units import unit_vector

    path, conv = meeting_wav

    def run(timbre: bool, where: str) -> list:
        (tmp_path / where).mkdir()
        graph = [{"id": "src", "type": "io.audio_file", "params": {"path": str(path), "rate": 16000, "block_ms": 20}},
                 {"id": "vad", "type": "speech.vad"},
                 {"id": "embed", "type": "speaker.embedding", "params": {"segments": False, "timbre": timbre}},
                 {"id": "sink"}]
        edges = ["src.audio -> vad.audio", "vad.speech -> embed.speech", "embed.windows -> sink.in"]
        return [p.payload for p in capture(graph, edges, tmp_path / where)[0] if p.payload.kind == "window"]

    ubm = TimbreUbm.load()
    k = len(ubm.weights)
    halves: dict[str, list[np.ndarray]] = {}
    wins = run(True, "on")
    for e in wins:
        assert e.timbre is not None and e.timbre.shape == (ubm.size,)
        assert 0 < e.timbre[:k].sum() <= (e.end - e.new_from) * 100 + 3  # frames of 10 ms, each counted once
        who = [t.speaker for t in conv.turns if t.t0 - 0.1 <= e.new_from and e.end <= t.t1 + 0.1]
        if who:
            got = halves.setdefault(who[0], [np.zeros(ubm.size), np.zeros(ubm.size)])
            got[int(e.new_from * 2) % 2] += e.timbre  # alternate half-second stretches: two halves of their speech
    around = ubm.adapted_means(np.sum([e.timbre for e in wins], axis=0))
    sv = {spk: [unit_vector(ubm.supervector(h, around)) for h in hs] for spk, hs in halves.items()}
    for me, other in (("alice", "bob"), ("bob", "alice")):
        assert sv[me][0] @ sv[me][1] > max(sv[me][0] @ sv[other][1], sv[me][1] @ sv[other][0]) + 0.1
    assert all(e.timbre is None for e in run(False, "off"))
