"""Graph validation: every mistake is reported, all at once, with a JSON pointer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import write_graph

from pipeline import GraphError, UsageError, load_graph


def problems(path: Path, values=None) -> dict[str, str]:
    with pytest.raises(GraphError) as info:
        load_graph(path, values or {})
    return {p.pointer: p.message for p in info.value.problems}


def test_valid_graph_loads(tmp_path: Path) -> None:
    g = load_graph(write_graph(tmp_path / "ok.json",
                               [{"id": "src", "type": "test.count"}, {"id": "sink", "type": "test.collect"}],
                               [{"from": "src", "to": "sink"}]))
    assert g.order == ["src", "sink"] and g.edges[0].label == "src.out -> sink.in"


def test_every_problem_reported_at_once(tmp_path: Path) -> None:
    g = write_graph(
        tmp_path / "bad.json",
        [
            {"id": "src", "type": "test.count", "params": {"count": "many", "rat": 5}},
            {"id": "asr", "type": "asr.whipser"},
            {"id": "src", "type": "test.collect"},
            {"id": "vad", "type": "speech.vad", "params": {"threshold": 2}},
            {"id": "join", "type": "test.join3"},
            {"id": "ints", "type": "test.int_sink"},
            {"id": "files", "type": "transcript.writer", "params": {"formats": ["srt", "docx"]}},
            {"id": "whisper", "type": "asr.whisper"},
            {"type": "test.collect"},
            {"id": "x", "type": "test.collect", "extra": 1},
        ],
        [
            "src.out -> join.a",
            "src.out -> join.z",
            "nosuch.out -> join.b",
            "src.out -> ints.in",
            "src.out -> join.a",
            {"from": "src.out", "to": "x.in", "capacity": 0, "policy": "drop_everything"},
        ],
    )
    p = problems(g)
    assert "must be a whole number" not in p.get("/nodes/0/params/count", "") and "valid integer" in p["/nodes/0/params/count"]
    assert "unknown parameter 'rat'" in p["/nodes/0/params/rat"] and "did you mean 'rate'" in p["/nodes/0/params/rat"]
    assert "unknown node type 'asr.whipser'" in p["/nodes/1/type"] and "did you mean 'asr.whisper'" in p["/nodes/1/type"]
    assert "duplicate node id 'src'" in p["/nodes/2/id"] and "/nodes/0" in p["/nodes/2/id"]
    assert "less than 1" in p["/nodes/3/params/threshold"]
    assert "docx" in p["/nodes/6/params/formats/1"]
    assert "missing or invalid node id" in p["/nodes/8/id"]
    assert "unknown key" in p["/nodes/9/extra"]
    assert "has no input port 'z'" in p["/edges/1"] and "inputs: a, b, c" in p["/edges/1"]
    assert "no node 'nosuch'" in p["/edges/2"]
    assert "type mismatch" in p["/edges/3"] and "accepts int" in p["/edges/3"]
    assert "already connected by /edges/0" in p["/edges/4"]
    assert "whole number of packets" in p["/edges/5/capacity"]
    assert "unknown overload policy" in p["/edges/5/policy"]
    assert "required input 'b' of node 'join'" in p["/nodes/4"]
    assert "required input 'speech' of node 'whisper'" in p["/nodes/7"]


def test_a_check_across_parameters_reads_as_one_sentence(tmp_path: Path) -> None:
    # the particle filter's priors of staying and of a new talker leave the rest to switching: over 1 is no prior
    g = write_graph(tmp_path / "priors.json", [{"id": "dz", "type": "speaker.diarizer", "params": {"p_stay": 0.9, "p_new": 0.5}}], [])
    assert problems(g)["/nodes/0/params"] == ("speaker.diarizer: p_stay + p_new must not exceed 1 (the rest is the chance of "
                                               "switching to another known talker), got 0.9 + 0.5")
    g = write_graph(tmp_path / "horizon.json", [{"id": "dz", "type": "speaker.diarizer", "params": {"refine_horizon_s": 10, "refine_every_s": 15}}], [])
    assert problems(g)["/nodes/0/params"] == ("speaker.diarizer: refine_horizon_s (10 s) is shorter than refine_every_s (15 s): "
                                               "speech between two passes would never be refined")


def test_unconnected_required_input(tmp_path: Path) -> None:
    p = problems(write_graph(tmp_path / "g.json", [{"id": "sink", "type": "test.collect"}], []))
    assert p == {"/nodes/0": "required input 'in' of node 'sink' (any) is not connected"}


def test_cycle_is_reported_with_its_edges(tmp_path: Path) -> None:
    g = write_graph(
        tmp_path / "cyc.json",
        [{"id": "src", "type": "test.count"}, {"id": "a", "type": "test.join3"}, {"id": "b", "type": "util.passthrough"}, {"id": "c", "type": "util.passthrough"}],
        ["src.out -> a.a", "a.out -> b.in", "b.out -> c.in", "c.out -> a.b"],
    )
    p = problems(g)
    ((ptr, msg),) = p.items()
    assert msg.startswith("cycle: ") and "graphs must be acyclic" in msg
    loop = msg.split("cycle: ")[1].split(" (")[0].split(" -> ")
    assert loop[0] == loop[-1] and sorted(loop[:-1]) == ["a", "b", "c"]
    assert all(f"/edges/{i}" in msg for i in (1, 2, 3)) and ptr in {"/edges/1", "/edges/2", "/edges/3"}


def test_port_may_be_omitted_only_when_unambiguous(tmp_path: Path) -> None:
    g = write_graph(tmp_path / "amb.json", [{"id": "src", "type": "test.count"}, {"id": "j", "type": "test.join3"}], ["src -> j"])
    p = problems(g)
    assert "several input ports; name one (a, b, c)" in p["/edges/0"]


def test_malformed_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "nodes": [\n    {"id": "a" "type": "x"}\n  ]\n}\n')
    with pytest.raises(GraphError) as info:
        load_graph(path)
    assert "malformed JSON at line 3, column 16" in str(info.value) and str(path) in str(info.value)


def test_top_level_problems(tmp_path: Path) -> None:
    path = tmp_path / "top.json"
    path.write_text(json.dumps({"meetflow": 2, "nodez": [], "nodes": {}}))
    p = problems(path)
    assert "unsupported graph format version 2" in p["/meetflow"]
    assert "did you mean 'nodes'" in p["/nodez"]
    assert "not a list" in p["/nodes"]
    path.write_text("[1, 2]")
    assert "a graph is a JSON object" in str(pytest.raises(GraphError, load_graph, path).value)


def _var_graph(tmp_path: Path) -> Path:
    return write_graph(
        tmp_path / "vars.json",
        [{"id": "src", "type": "test.count", "params": {"count": "${n}", "rate": "${rate}"}},
         {"id": "sink", "type": "test.collect", "params": {"key": "k-${n}-$${literal}"}, "enabled": "${sink}"},
         {"id": "null", "type": "util.null_sink", "enabled": "${nul}"}],
        ["src.out -> sink.in", "src.out -> null.in"],
        {"n": {"description": "how many"}, "rate": {"default": 50}, "sink": {"default": True}, "nul": {"default": False}},
    )


def test_variables_defaults_and_values_keep_json_types(tmp_path: Path) -> None:
    g = load_graph(_var_graph(tmp_path), {"n": 7})
    assert g.nodes["src"].params.count == 7 and g.nodes["src"].params.rate == 50
    assert g.nodes["sink"].params.key == "k-7-${literal}"
    assert "null" not in g.nodes and len(g.edges) == 1  # disabled node and its edge dropped
    g = load_graph(_var_graph(tmp_path), {"n": 3, "sink": False, "nul": True})
    assert set(g.nodes) == {"src", "null"}


def test_missing_and_unknown_variables(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"variable 'n' has no value .*--set n=VALUE \(how many\)"):
        load_graph(_var_graph(tmp_path))
    with pytest.raises(UsageError, match="declares no variable 'm'"):
        load_graph(_var_graph(tmp_path), {"n": 1, "m": 2})
    with pytest.raises(UsageError, match=r"--input PATH: graph .* declares no variable 'input'"):
        load_graph(_var_graph(tmp_path), {"n": 1, "input": "x.wav"})
    # not strict (`meetflow validate`): an unset variable stays a placeholder
    g = load_graph(_var_graph(tmp_path), {"n": 4}, strict=False)
    assert g.nodes["src"].params.count == 4
    g = write_graph(tmp_path / "undeclared.json", [{"id": "src", "type": "test.count", "params": {"count": "${nope}"}}, {"id": "s", "type": "util.null_sink"}], ["src -> s"])
    p = problems(g)
    assert "unknown variable ${nope}" in p["/nodes/0/params/count"]


def test_shipped_graphs_are_valid() -> None:
    for path in Path(__file__).resolve().parents[1].joinpath("graphs").glob("*.json"):
        graph = load_graph(path, strict=False)
        assert graph.nodes, path
