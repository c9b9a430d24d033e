"""Draw a graph as Graphviz DOT or Mermaid text (``meetflow graph``)."""

from __future__ import annotations

from ..graph import Graph
from ..ports import type_label


def _label_type(graph: Graph, nid: str, port: str) -> str:
    return type_label(graph.nodes[nid].cls.outputs[port].type)


def to_dot(graph: Graph) -> str:
    lines = [f'digraph "{graph.name}" {{', "  rankdir=LR;", '  node [shape=box, style=rounded, fontname="Helvetica"];']
    for nid in graph.order:
        spec = graph.nodes[nid]
        shape = ', shape=cds' if spec.is_source else ""
        lines.append(f'  "{nid}" [label="{nid}\\n{spec.type_name}"{shape}];')
    for e in graph.edges:
        label = f"{e.src_port} → {e.dst_port}\\n{_label_type(graph, e.src, e.src_port)}"
        extra = "" if e.policy == "block" else f", style=dashed, xlabel=\"{e.policy}\""
        lines.append(f'  "{e.src}" -> "{e.dst}" [label="{label}", fontsize=10{extra}];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_id(nid: str) -> str:
    return nid.replace("-", "_")


def to_mermaid(graph: Graph) -> str:
    lines = ["flowchart LR"]
    for nid in graph.order:
        spec = graph.nodes[nid]
        open_, close = ("[/", "/]") if spec.is_source else ("[", "]")
        lines.append(f'  {_mermaid_id(nid)}{open_}"{nid}<br/><small>{spec.type_name}</small>"{close}')
    for e in graph.edges:
        label = f"{e.src_port} → {e.dst_port}: {_label_type(graph, e.src, e.src_port)}"
        lines.append(f'  {_mermaid_id(e.src)} -->|"{label}"| {_mermaid_id(e.dst)}')
    return "\n".join(lines) + "\n"
