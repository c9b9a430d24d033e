"""``meetflow record``: run a graph on live input and save the raw input beside the transcript.

The recording holds exactly the audio stream the graph received (after the source's
channel map and rate; lost audio as the silence that replaced it), so
``meetflow run GRAPH --input FILE`` replays the meeting later with the same media time
line: any live session can be re-transcribed, compared or debugged offline. It works the
same on a file input (a re-encoded copy), which is mostly useful for tests.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UsageError
from .cmd_run import add_run_options, run_command
from .common import graph_values

#: Place of this command in `meetflow --help`.
ORDER = 12

RECORDER_ID = "recorder"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "record", help="transcribe live input and save the raw input to a file",
        description="Run a graph like `meetflow run` and save the raw (multichannel) input to a file while it transcribes, "
        "so the meeting can be replayed exactly later with `meetflow run GRAPH --input FILE`.",
    )
    add_run_options(p)
    p.add_argument("--to", metavar="FILE", default=None,
                   help="recording to write: .wav (32-bit float, default OUT/recording.wav), .rf64/.w64 (no 4 GB limit) or .flac (24-bit)")
    p.add_argument("--source", metavar="NODE", default=None, help="which source node to record when the graph has several")
    p.set_defaults(func=run)


def add_recorder(doc: dict, source: str | None, path: str) -> dict:
    """The graph document with an ``io.recorder`` node on the source's audio output."""
    nodes = doc.get("nodes")
    if not isinstance(nodes, list):
        return doc  # let the loader report the broken graph
    audio_sources = [n for n in nodes if isinstance(n, dict) and n.get("type") in ("io.audio_input", "io.microphone", "io.audio_file") and n.get("enabled", True) is not False]
    if source is not None:
        chosen = [n for n in audio_sources if n.get("id") == source]
        if not chosen:
            ids = ", ".join(str(n.get("id")) for n in audio_sources) or "none"
            raise UsageError(f"--source {source}: no audio source node with that id (audio sources: {ids})")
    else:
        chosen = audio_sources
        if len(chosen) > 1:
            ids = ", ".join(str(n.get("id")) for n in chosen)
            raise UsageError(f"the graph has several audio sources ({ids}); say which to record with --source")
        if not chosen:
            raise UsageError("the graph has no audio source node (io.audio_input, io.microphone or io.audio_file) to record")
    if any(isinstance(n, dict) and n.get("id") == RECORDER_ID for n in nodes):
        raise UsageError(f"the graph already has a node called '{RECORDER_ID}'")
    doc = dict(doc)
    doc["nodes"] = nodes + [{"id": RECORDER_ID, "type": "io.recorder", "params": {"path": path}}]
    # Roomy and blocking: writing is fast, and a live source never waits on it for long.
    edge = {"from": f"{chosen[0]['id']}.audio", "to": f"{RECORDER_ID}.audio", "capacity": 500}
    doc["edges"] = list(doc.get("edges", [])) + [edge]
    return doc


def run(args: argparse.Namespace) -> int:
    from ..graph_load import build_graph, read_document

    values = graph_values(args)
    path = Path(args.graph)
    doc = read_document(path)
    out = values.get("out")
    if out is None:
        decl = doc.get("variables", {}).get("out", {}) if isinstance(doc.get("variables"), dict) else {}
        out = decl.get("default") if isinstance(decl, dict) else None
    target = args.to or str(Path(str(out) if out else ".") / "recording.wav")
    from nodes.io.recorder import FORMATS

    if Path(target).suffix.lower() not in FORMATS:
        raise UsageError(f"--to {target}: cannot record to that format; use one of {', '.join(sorted(FORMATS))}")
    graph = build_graph(add_recorder(doc, args.source, target), values, path=path)
    return run_command(args, values, graph, announce=f"recording the input to {target}")

