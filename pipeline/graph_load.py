"""Load a graph from JSON and check everything that can be checked before running it.

Every mistake is collected, located by a JSON pointer into the document, and reported in
one ``GraphError``: a user fixing a graph should see all problems at once, not one per run.

The document::

    {
      "meetflow": 1,
      "name": "transcribe",
      "description": "...",
      "variables": {"input": {"description": "recording"}, "out": {"default": "out"}},
      "nodes": [
        {"id": "src", "type": "io.audio_file", "params": {"path": "${input}"}},
        {"id": "vad", "type": "speech.vad"}
      ],
      "edges": [
        {"from": "src.audio", "to": "vad.audio", "capacity": 64},
        "vad.speech -> asr.speech"
      ]
    }

An endpoint may omit the port when the node has exactly one output (input) port. A node
may carry ``"enabled": false`` (usually through a variable) to drop it and its edges.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any, Mapping

import networkx as nx
from pydantic import BaseModel, ValidationError

from . import registry
from .errors import GraphError, Problem, UsageError
from .graph import DEFAULT_CAPACITY, EdgeSpec, Graph, NodeSpec
from .node import Node
from .ports import compatible, type_label
from .variables import NAME, Resolver, Unset, Variable, blame

FORMAT_VERSION = 1
_TOP_KEYS = {"meetflow", "name", "description", "variables", "nodes", "edges"}
_NODE_KEYS = {"id", "type", "params", "enabled", "comment"}
_EDGE_KEYS = {"from", "to", "capacity", "capacity_s", "policy", "comment"}
_POLICIES = ("block", "drop_oldest", "drop_newest")
_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def read_document(path: Path) -> dict[str, Any]:
    """Read and parse a graph file; unreadable or malformed JSON is a ``GraphError``."""
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GraphError([Problem("", "graph file not found")], where) from None
    except IsADirectoryError:
        raise GraphError([Problem("", "is a directory, not a graph file")], where) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GraphError([Problem("", f"cannot read graph file: {exc}")], where) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GraphError([Problem("", f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")], where) from None
    if not isinstance(doc, dict):
        raise GraphError([Problem("", f"a graph is a JSON object, got {type(doc).__name__}")], where)
    return doc


def declared_variables(doc: Mapping[str, Any], problems: list[Problem]) -> dict[str, Variable]:
    raw = doc.get("variables", {})
    out: dict[str, Variable] = {}
    if not isinstance(raw, dict):
        problems.append(Problem("/variables", "must be an object mapping names to {default, description}"))
        return out
    for name, decl in raw.items():
        ptr = f"/variables/{name}"
        if not NAME.match(name):
            problems.append(Problem(ptr, f"'{name}' is not a valid variable name (letters, digits, _)"))
            continue
        if not isinstance(decl, dict):
            problems.append(Problem(ptr, 'must be an object such as {"default": ..., "description": "..."}'))
            out[name] = Variable(name)  # declared, if badly: the graph's problem, not an unknown --set
            continue
        extra = set(decl) - {"default", "description"}
        if extra:
            problems.append(Problem(ptr, f"unknown keys {sorted(extra)} (allowed: default, description)"))
        out[name] = Variable(name, decl.get("default"), "default" in decl, str(decl.get("description", "")))
    return out


def load_graph(
    path: str | Path,
    values: Mapping[str, Any] | None = None,
    *,
    strict: bool = True,
) -> Graph:
    """Load, substitute variables and validate a graph file.

    ``values`` are variable assignments (``--set``, ``--input``, ``--out``). With
    ``strict=False`` (``meetflow validate``) variables without a value stay as their
    placeholders instead of being an error.
    """
    path = Path(path)
    doc = read_document(path)
    return build_graph(doc, values or {}, strict=strict, path=path)


def build_graph(doc: dict[str, Any], values: Mapping[str, Any], *, strict: bool = True, path: Path | None = None) -> Graph:
    """Validate a parsed graph document (see ``load_graph``)."""
    where = str(path) if path else None
    problems: list[Problem] = []
    for key in doc:
        if key not in _TOP_KEYS:
            problems.append(Problem(f"/{key}", f"unknown key{_suggest(key, sorted(_TOP_KEYS))} (allowed: {', '.join(sorted(_TOP_KEYS))})"))
    version = doc.get("meetflow", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        problems.append(Problem("/meetflow", f"unsupported graph format version {version!r} (this meetflow reads {FORMAT_VERSION})"))

    declared = declared_variables(doc, problems)
    given = dict(values)
    if path is not None:
        declared.setdefault("graph_dir", Variable("graph_dir", str(path.resolve().parent), True, "folder of the graph file"))
    unknown = [n for n in given if n not in declared]
    if unknown:
        from .errors import UsageError
        from .variables import CLI_HINTS

        msgs = []
        for n in unknown:
            how = CLI_HINTS.get(n, f"--set {n}")
            msgs.append(f"{how}: graph '{doc.get('name', where)}' declares no variable '{n}'{_suggest(n, sorted(declared))}")
        declared_list = ", ".join(sorted(k for k in declared if k != "graph_dir")) or "none"
        raise UsageError("; ".join(msgs) + f" (its variables: {declared_list})")

    resolver = Resolver(declared, given, strict)
    nodes_raw = doc.get("nodes")
    edges_raw = doc.get("edges", [])
    if not isinstance(nodes_raw, list):
        problems.append(Problem("/nodes", "missing or not a list of nodes"))
        nodes_raw = []
    if not isinstance(edges_raw, list):
        problems.append(Problem("/edges", "must be a list of edges"))
        edges_raw = []
    nodes_raw = resolver.resolve(nodes_raw, "/nodes")
    edges_raw = resolver.resolve(edges_raw, "/edges")
    missing = resolver.missing_error()
    found: list[Problem] = []
    specs, disabled = _check_nodes(nodes_raw, found)
    edges = _check_edges(edges_raw, specs, disabled, found)
    _check_required_inputs(specs, edges, found)
    _check_cycles(specs, edges, found)
    # A placeholder whose value is not known cannot be checked: report the variable instead.
    problems += resolver.problems + [p for p in found if not resolver.caused_by_unfilled(p.pointer)]
    if problems and all(resolver.given_for(p.pointer) for p in problems):
        raise _command_line_error(problems, resolver, given)
    if problems:
        raise GraphError(problems, where)
    if missing is not None:
        raise missing
    used_values = {n: v for n in sorted(resolver.used) if n in declared and (v := resolver.value_of(n, "")) is not Unset}
    return Graph(
        name=str(doc.get("name") or (path.stem if path else "graph")),
        nodes=specs,
        edges=edges,
        path=path,
        description=str(doc.get("description", "")),
        variables=used_values,
        given_at=dict(resolver.given_at),
    )


def _command_line_error(problems: list[Problem], resolver: Resolver, given: Mapping[str, Any]) -> UsageError:
    """Problems that only values given on the command line caused, told in the command line's terms
    (``--set beam_size=abc: ...``), not as a broken graph file the user never edited."""
    parts = []
    for p in problems:
        name = resolver.given_for(p.pointer) or ""
        parts.append(blame(name, given[name], p.message, p.pointer))
    return UsageError("; ".join(parts))


def _check_nodes(nodes_raw: list[Any], problems: list[Problem]) -> tuple[dict[str, NodeSpec], set[str]]:
    specs: dict[str, NodeSpec] = {}
    first_seen: dict[str, str] = {}
    disabled: set[str] = set()
    types = registry.node_types()
    for i, raw in enumerate(nodes_raw):
        ptr = f"/nodes/{i}"
        if not isinstance(raw, dict):
            problems.append(Problem(ptr, "a node is an object with 'id' and 'type'"))
            continue
        for key in raw:
            if key not in _NODE_KEYS:
                problems.append(Problem(f"{ptr}/{key}", f"unknown key{_suggest(key, sorted(_NODE_KEYS))} (allowed: {', '.join(sorted(_NODE_KEYS))})"))
        node_id = raw.get("id")
        if not isinstance(node_id, str) or not _ID.match(node_id):
            problems.append(Problem(f"{ptr}/id", f"missing or invalid node id {node_id!r} (letters, digits, '_' and '-', not starting with a digit)"))
            node_id = None
        elif node_id in first_seen:
            problems.append(Problem(f"{ptr}/id", f"duplicate node id '{node_id}' (first declared at {first_seen[node_id]})"))
            node_id = None
        else:
            first_seen[node_id] = ptr
        enabled = raw.get("enabled", True)
        if not isinstance(enabled, bool):
            problems.append(Problem(f"{ptr}/enabled", f"must be true or false, got {enabled!r}"))
            enabled = True
        type_name = raw.get("type")
        cls: type[Node] | None = None
        if not isinstance(type_name, str):
            problems.append(Problem(f"{ptr}/type", "missing node type (see `meetflow nodes`)"))
        else:
            cls = types.get(type_name)
            if cls is None:
                problems.append(Problem(f"{ptr}/type", f"unknown node type '{type_name}'{_suggest(type_name, list(types))} (see `meetflow nodes`)"))
        params_raw = raw.get("params", {})
        if not isinstance(params_raw, dict):
            problems.append(Problem(f"{ptr}/params", "must be an object"))
            params_raw = {}
        if node_id is None:
            continue
        if not enabled:
            disabled.add(node_id)
            continue
        if cls is None:
            continue
        params = _check_params(cls, params_raw, f"{ptr}/params", problems)
        if params is not None:
            specs[node_id] = NodeSpec(node_id, cls.type_name, cls, params, ptr)
        else:
            # Keep the node known (with unvalidated params) so edge checks still run.
            specs[node_id] = NodeSpec(node_id, cls.type_name, cls, cls.Params.model_construct(), ptr)
    return specs, disabled


def _check_params(cls: type[Node], raw: dict[str, Any], ptr: str, problems: list[Problem]) -> BaseModel | None:
    try:
        return cls.Params.model_validate(raw)
    except ValidationError as exc:
        fields = list(cls.Params.model_fields)
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            where = ptr + "".join(f"/{p}" for p in loc)
            kind = err["type"]
            if kind == "missing":
                msg = f"missing required parameter '{loc[-1]}'"
            elif kind == "extra_forbidden":
                msg = f"unknown parameter '{loc[-1]}'{_suggest(loc[-1], fields)} (parameters of {cls.type_name}: {', '.join(fields) or 'none'})"
            elif kind == "value_error" and not loc:
                # a check across parameters (a model validator): its message names the values itself
                msg = f"{cls.type_name}: {err['msg'].removeprefix('Value error, ')}"
            else:
                got = err.get("input")
                shown = json.dumps(got) if isinstance(got, (str, int, float, bool, type(None))) else type(got).__name__
                msg = f"{err['msg']} (got {shown})"
            problems.append(Problem(where, msg))
        return None


def _endpoint(raw: Any, ptr: str, side: str, specs: dict[str, NodeSpec], disabled: set[str], problems: list[Problem]) -> tuple[str, str] | None | str:
    """Resolve 'node.port' (or 'node') on one side of an edge; returns 'disabled' for dropped nodes."""
    if not isinstance(raw, str) or not raw:
        problems.append(Problem(ptr, "expected 'node.port' (or 'node' when it has one port)"))
        return None
    node_id, _, port = raw.partition(".")
    if node_id in disabled:
        return "disabled"
    spec = specs.get(node_id)
    if spec is None:
        problems.append(Problem(ptr, f"no node '{node_id}'{_suggest(node_id, list(specs))}"))
        return None
    ports = spec.cls.outputs if side == "from" else spec.cls.inputs
    kind = "output" if side == "from" else "input"
    if not port:
        if len(ports) == 1:
            return node_id, next(iter(ports))
        listed = ", ".join(ports) or "none"
        problems.append(Problem(ptr, f"node '{node_id}' has several {kind} ports; name one ({listed})"))
        return None
    if port not in ports:
        listed = ", ".join(ports) or "none"
        problems.append(Problem(ptr, f"node '{node_id}' ({spec.type_name}) has no {kind} port '{port}'{_suggest(port, list(ports))} ({kind}s: {listed})"))
        return None
    return node_id, port


def _check_edges(edges_raw: list[Any], specs: dict[str, NodeSpec], disabled: set[str], problems: list[Problem]) -> list[EdgeSpec]:
    edges: list[EdgeSpec] = []
    taken: dict[tuple[str, str], str] = {}
    for i, raw in enumerate(edges_raw):
        ptr = f"/edges/{i}"
        if isinstance(raw, str):
            if "->" not in raw:
                problems.append(Problem(ptr, "a string edge reads 'node.port -> node.port'"))
                continue
            a, b = (s.strip() for s in raw.split("->", 1))
            raw = {"from": a, "to": b}
            from_ptr = to_ptr = ptr
        elif isinstance(raw, dict):
            for key in raw:
                if key not in _EDGE_KEYS:
                    problems.append(Problem(f"{ptr}/{key}", f"unknown key{_suggest(key, sorted(_EDGE_KEYS))} (allowed: {', '.join(sorted(_EDGE_KEYS))})"))
            from_ptr, to_ptr = f"{ptr}/from", f"{ptr}/to"
        else:
            problems.append(Problem(ptr, "an edge is an object {\"from\": ..., \"to\": ...} or a string 'a.out -> b.in'"))
            continue
        src = _endpoint(raw.get("from"), from_ptr, "from", specs, disabled, problems)
        dst = _endpoint(raw.get("to"), to_ptr, "to", specs, disabled, problems)
        capacity = raw.get("capacity", DEFAULT_CAPACITY)
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
            problems.append(Problem(f"{ptr}/capacity", f"must be a whole number of packets >= 1, got {capacity!r}"))
            capacity = DEFAULT_CAPACITY
        capacity_s = raw.get("capacity_s")
        if capacity_s is not None and (not isinstance(capacity_s, (int, float)) or isinstance(capacity_s, bool) or capacity_s <= 0):
            problems.append(Problem(f"{ptr}/capacity_s", f"must be a positive number of media seconds, got {capacity_s!r}"))
            capacity_s = None
        policy = raw.get("policy", "block")
        if policy not in _POLICIES:
            problems.append(Problem(f"{ptr}/policy", f"unknown overload policy {policy!r}{_suggest(str(policy), list(_POLICIES))} (one of {', '.join(_POLICIES)})"))
            policy = "block"
        if src == "disabled" or dst == "disabled" or src is None or dst is None:
            continue
        assert isinstance(src, tuple) and isinstance(dst, tuple)
        out_type = specs[src[0]].cls.outputs[src[1]].type
        in_type = specs[dst[0]].cls.inputs[dst[1]].type
        if not compatible(out_type, in_type):
            problems.append(Problem(ptr, f"type mismatch: {src[0]}.{src[1]} produces {type_label(out_type)} but {dst[0]}.{dst[1]} accepts {type_label(in_type)}"))
            continue
        if dst in taken:
            problems.append(Problem(to_ptr, f"input {dst[0]}.{dst[1]} is already connected by {taken[dst]}; an input takes one edge"))
            continue
        taken[dst] = ptr
        edges.append(EdgeSpec(src[0], src[1], dst[0], dst[1], ptr, int(capacity), None if capacity_s is None else float(capacity_s), policy))
    return edges


def _check_required_inputs(specs: dict[str, NodeSpec], edges: list[EdgeSpec], problems: list[Problem]) -> None:
    connected = {(e.dst, e.dst_port) for e in edges}
    for nid, spec in specs.items():
        for port, decl in spec.cls.inputs.items():
            if decl.required and (nid, port) not in connected:
                problems.append(Problem(spec.pointer, f"required input '{port}' of node '{nid}' ({type_label(decl.type)}) is not connected"))


def _check_cycles(specs: dict[str, NodeSpec], edges: list[EdgeSpec], problems: list[Problem]) -> None:
    g = nx.DiGraph()
    g.add_nodes_from(specs)
    pointer_of: dict[tuple[str, str], str] = {}
    for e in edges:
        g.add_edge(e.src, e.dst)
        pointer_of.setdefault((e.src, e.dst), e.pointer)
    for cycle in nx.simple_cycles(g):
        loop = cycle + [cycle[0]]
        ptrs = [pointer_of[(a, b)] for a, b in zip(loop, loop[1:])]
        problems.append(Problem(ptrs[0], f"cycle: {' -> '.join(loop)} (edges {', '.join(ptrs)}); graphs must be acyclic"))
