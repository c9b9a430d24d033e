"""Shared fixtures: engine test nodes, generated speech, graph helpers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import engine_nodes  # noqa: F401  (registers the test.* node types)

ROOT = Path(__file__).resolve().parents[1]
GRAPHS = ROOT / "graphs"

#: Sentences Whisper tiny.en reads reliably from espeak (no digits, acronyms or pangrams).
SCRIPT = [
    ("alice", "Good morning everyone, thank you for joining the weekly planning meeting."),
    ("bob", "We finished the new design for the login page and the tests are passing."),
    ("alice", "That is great news. When can we show it to the customers?"),
    ("bob", "I think we can share it at the end of next week."),
    ("alice", "Please send me a short summary after lunch so I can update the schedule."),
]
VOICES = {"alice": "en-us+m3", "bob": "en-gb-x-rp+m1"}


@pytest.fixture(autouse=True)
def _reset_collected() -> None:
    engine_nodes.reset()


def write_graph(path: Path, nodes: list[dict[str, Any]], edges: list[Any], variables: dict[str, Any] | None = None) -> Path:
    doc: dict[str, Any] = {"meetflow": 1, "name": path.stem, "nodes": nodes, "edges": edges}
    if variables:
        doc["variables"] = variables
    path.write_text(json.dumps(doc, indent=1))
    return path


needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


@pytest.fixture(scope="session")
def meeting_wav(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """A two-talker conversation (espeak-ng) with known text, as a 16 kHz WAV."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    import soundfile as sf

    from nodes.sim.tts import conversation

    conv = conversation(SCRIPT, VOICES, gap_s=1.2)
    path = tmp_path_factory.mktemp("audio") / "meeting.wav"
    sf.write(path, conv.audio, conv.rate, subtype="PCM_16")
    return path, conv


def capture(nodes: list[dict[str, Any]], edges: list[Any], tmp_path: Path, executor: str = "inline") -> tuple[list[Any], Any]:
    """Run a graph whose packets of interest flow into a node with id 'sink'; return them.

    The 'sink' node is replaced by a raw ``test.collect``; returns the packets it received
    and the run's context (for summaries and warnings).
    """
    from pipeline import RunContext, load_graph, run_graph

    nodes = [n if n["id"] != "sink" else {"id": "sink", "type": "test.collect", "params": {"key": "capture", "raw": True}} for n in nodes]
    graph = load_graph(write_graph(tmp_path / "capture.json", nodes, edges))
    context = RunContext()
    engine_nodes.COLLECTED.pop("capture", None)
    run_graph(graph, context, executor)
    return list(engine_nodes.COLLECTED.get("capture", [])), context


def run_cli(*args: str, timeout: float = 300, **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run ``meetflow`` in a subprocess (as a user would) and capture its output."""
    return subprocess.run([sys.executable, "-m", "pipeline.cli.main", *args], capture_output=True, text=True, timeout=timeout, cwd=kw.pop("cwd", ROOT), **kw)


def wer(ref: str, hyp: str) -> float:
    from nodes.transcript.textnorm import word_error_rate

    return word_error_rate(ref, hyp)


def tone(seconds: float, rate: int = 16000, channels: int = 1, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * freq * t)
    return np.repeat(x[:, None], channels, axis=1).astype(np.float32)
