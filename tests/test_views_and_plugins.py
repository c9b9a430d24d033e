"""The terminal view, third-party node plugins, and the CLI's trace option."""

from __future__ import annotations

import io
import json
import sys
import textwrap
from pathlib import Path

from conftest import run_cli, write_graph

from pipeline import TranscriptUpdate, registry


def test_live_view_prints_finals_and_shows_partials() -> None:
    from rich.console import Console

    from pipeline.cli.view import LiveView

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=100, color_system=None)
    view = LiveView(console, lambda: (12.0, 60.0))
    with view:
        view.update(TranscriptUpdate("s1", "partial", 1.0, 2.0, "hello wor"))
        rendered = Console(file=io.StringIO(), width=100, color_system=None)
        rendered.print(view)
        live_area = rendered.file.getvalue()  # type: ignore[attr-defined]
        assert "hello wor" in live_area and "12.0 / 60.0 s" in live_area and "20%" in live_area
        view.update(TranscriptUpdate("s1", "final", 1.0, 2.5, "hello world", speaker="S1", revision=2))
        view.update(TranscriptUpdate("s1", "final", 1.0, 2.5, "hello world", speaker="S2", revision=3))  # a quick relabel
        view.update(TranscriptUpdate("s2.0", "final", 3.0, 3.5, "good", speaker="S1", revision=1, extra={"split_of": "s2"}))
        view.update(TranscriptUpdate("s2.1", "final", 3.5, 4.5, "morning", speaker="S2", revision=1, extra={"split_of": "s2"}))
        view.update(TranscriptUpdate("s3", "final", 9.0, 9.5, "later", speaker="S1", revision=1))  # media time moves on
        view.update(TranscriptUpdate("s2.1", "final", 3.5, 4.5, "morning", speaker="S1", revision=2, extra={"split_of": "s2"}))
    out = buf.getvalue()
    # each segment printed once, with the label it had settled on; a later relabel as a correction block
    assert "S2: hello world" in out and "S1: hello world" not in out  # held in the live area until the relabel settled
    assert "~ revised [00:03.0 - 00:04.5]\n" in out and "~ [00:03.0] S1: good\n" in out and "~ [00:03.5] S1: morning\n" in out


def test_third_party_nodes_register_through_entry_points(tmp_path: Path, monkeypatch) -> None:
    pkg = tmp_path / "site"
    pkg.mkdir()
    (pkg / "shout_nodes.py").write_text(textwrap.dedent('''
        from pipeline import In, Node, Out, Packet

        class Shout(Node):
            """Upper-cases text payloads."""
            type_name = "plugin.shout"
            inputs = {"in": In(str)}
            outputs = {"out": Out(str)}

            def process(self, port, packet):
                self.emit("out", Packet(packet.t0, packet.t1, packet.payload.upper()))
    '''))
    (pkg / "broken_nodes.py").write_text("raise ImportError('missing dependency: frobnicate')\n")
    dist = pkg / "shout_nodes-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: shout-nodes\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[meetflow.nodes]\nshout = shout_nodes\nbroken = broken_nodes\n")
    monkeypatch.syspath_prepend(str(pkg))
    monkeypatch.setattr(registry, "_discovered", False)
    monkeypatch.setattr(registry, "_plugin_errors", [])
    types = registry.node_types()
    assert "plugin.shout" in types and "asr.whisper" in types
    errors = registry.plugin_errors()
    assert len(errors) == 1 and "broken" in errors[0] and "frobnicate" in errors[0]
    sys.modules.pop("shout_nodes", None)


def test_cli_trace_option(tmp_path: Path) -> None:
    g = write_graph(
        tmp_path / "g.json",
        [{"id": "tick", "type": "util.ticker", "params": {"count": 200}}, {"id": "p", "type": "util.passthrough"}, {"id": "sink", "type": "util.null_sink"}],
        ["tick -> p", "p -> sink"],
        {"out": {"default": str(tmp_path / "out")}},
    )
    for ex in ("inline", "threaded"):
        trace = tmp_path / f"trace-{ex}.json"
        res = run_cli("run", str(g), "--trace", str(trace), "-e", ex, "-q")
        assert res.returncode == 0, res.stderr
        events = json.loads(trace.read_text())
        assert sum(1 for e in events if e.get("name") == "p" and e["ph"] == "X") == 200
