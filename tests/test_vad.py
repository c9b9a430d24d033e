"""Speech segmentation: the state machine on known probabilities, and Silero VAD on real speech."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import capture

from nodes.speech.segmenter import Segmenter
from pipeline import SpeechAudio

FRAME = 512


def seg(**kw) -> Segmenter:
    args = dict(frame=FRAME, threshold=0.5, neg_threshold=0.35, min_speech=4000, min_silence=8000, pad=3200, max_segment=16000 * 25)
    args.update(kw)
    return Segmenter(**args)


def events(s: Segmenter, probs: list[float]) -> list[tuple[str, int, bool]]:
    out = []
    for i, p in enumerate(probs):
        out += [(e.kind, e.sample, e.discard) for e in s.step(i, p)]
    out += [(e.kind, e.sample, e.discard) for e in s.finish(len(probs) * FRAME)]
    return out


def test_segment_boundaries_with_padding() -> None:
    probs = [0.0] * 20 + [0.9] * 40 + [0.1] * 30
    ev = events(seg(), probs)
    assert ev == [("start", 20 * FRAME - 3200, False), ("end", 60 * FRAME + 3200, False)]


def test_hysteresis_keeps_short_dips_inside_a_segment() -> None:
    probs = [0.9] * 30 + [0.4] * 10 + [0.2] * 5 + [0.9] * 30 + [0.0] * 40
    ev = events(seg(), probs)
    assert [e[0] for e in ev] == ["start", "end"]


def test_too_short_speech_is_discarded() -> None:
    ev = events(seg(), [0.0] * 10 + [0.9] * 3 + [0.0] * 40)
    assert ev[-1][0] == "end" and ev[-1][2] is True


def test_long_speech_is_split_at_the_quietest_frame() -> None:
    probs = [0.9] * 600 + [0.1] * 40
    probs[250] = 0.55  # the least speech-like frame in the second half of the first 10 s
    ev = events(seg(max_segment=16000 * 10), probs)
    kinds = [e[0] for e in ev]
    assert kinds[:3] == ["start", "end", "start"]
    assert ev[1][1] == ev[2][1] == 250 * FRAME + FRAME // 2


def test_segment_open_at_end_of_stream_is_closed() -> None:
    ev = events(seg(), [0.0] * 5 + [0.9] * 50)
    assert ev[-1] == ("end", 55 * FRAME, False)


@pytest.mark.slow
def test_vad_node_finds_each_turn(tmp_path: Path, meeting_wav) -> None:
    path, conv = meeting_wav
    got, _ = capture(
        [{"id": "src", "type": "io.audio_file", "params": {"path": str(path)}}, {"id": "vad", "type": "speech.vad"}, {"id": "sink"}],
        ["src.audio -> vad.audio", "vad.speech -> sink.in"],
        tmp_path,
    )
    t0s = [p.t0 for p in got]
    assert t0s == sorted(t0s)
    finals = [p.payload for p in got if p.payload.final and not p.payload.discard]
    assert len(finals) == len(conv.turns)
    by_id: dict[int, list[SpeechAudio]] = {}
    for p in got:
        by_id.setdefault(p.payload.segment_id, []).append(p.payload)
    for turn, final in zip(conv.turns, finals):
        chunks = by_id[final.segment_id]
        start = chunks[0].start / 16000
        end = final.end / 16000
        assert start <= turn.t0 + 0.1 and start >= turn.t0 - 0.5, (start, turn.t0)
        assert end >= turn.t1 - 0.1 and end <= turn.t1 + 0.8, (end, turn.t1)
        # chunks are contiguous audio from the segment start
        pos = chunks[0].start
        for c in chunks:
            assert c.start == pos
            pos += len(c.samples)
