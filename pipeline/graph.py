"""A validated graph: node instances to build and the edges between their ports.

Produced by ``pipeline.graph_load.load_graph``; consumed by the executors and by the
``graph``/``nodes`` commands. Everything here is resolved once at load so that nothing on
the per-packet path looks up names or types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
from pydantic import BaseModel

from .node import Node, Source
from .ports import OverloadPolicy

DEFAULT_CAPACITY = 64


@dataclass
class NodeSpec:
    id: str
    type_name: str
    cls: type[Node]
    params: BaseModel
    pointer: str

    @property
    def is_source(self) -> bool:
        return issubclass(self.cls, Source)


@dataclass
class EdgeSpec:
    src: str
    src_port: str
    dst: str
    dst_port: str
    pointer: str
    capacity: int = DEFAULT_CAPACITY
    capacity_s: float | None = None
    policy: OverloadPolicy = "block"

    @property
    def label(self) -> str:
        return f"{self.src}.{self.src_port} -> {self.dst}.{self.dst_port}"


@dataclass
class Graph:
    name: str
    nodes: dict[str, NodeSpec]
    edges: list[EdgeSpec]
    path: Path | None = None
    description: str = ""
    variables: dict[str, Any] = field(default_factory=dict)
    #: JSON pointers filled from command-line values (--input, --out, --set) -> the variable's name:
    #: a parameter there that a node refuses is the command line's mistake, not the graph file's.
    given_at: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        g = nx.DiGraph()
        index = {nid: i for i, nid in enumerate(self.nodes)}
        g.add_nodes_from(self.nodes)
        g.add_edges_from((e.src, e.dst) for e in self.edges)
        #: Topological order, stable with respect to the order nodes are declared in.
        self.order: list[str] = list(nx.lexicographical_topological_sort(g, key=index.__getitem__))

    def out_edges(self, node_id: str, port: str | None = None) -> list[EdgeSpec]:
        return [e for e in self.edges if e.src == node_id and (port is None or e.src_port == port)]

    def in_edges(self, node_id: str) -> list[EdgeSpec]:
        return [e for e in self.edges if e.dst == node_id]

    @property
    def sources(self) -> list[str]:
        return [nid for nid in self.order if self.nodes[nid].is_source]

    @property
    def live(self) -> bool:
        """True when a source captures from a device in real time (see ``Source.live_for``)."""
        for nid in self.sources:
            spec = self.nodes[nid]
            if spec.cls.live_for(spec.params):  # type: ignore[attr-defined]
                return True
        return False
