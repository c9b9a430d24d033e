"""``meetflow nodes``: what node types exist, their ports and parameters."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .. import registry
from ..errors import UsageError
from ..node import Node, Source
from ..ports import type_label


def node_schema(cls: type[Node]) -> dict[str, Any]:
    """A node type as JSON: ports and the JSON Schema of its parameters."""
    return {
        "type": cls.type_name,
        "kind": "source" if issubclass(cls, Source) else "node",
        "summary": cls.summary(),
        "description": cls.description(),
        "inputs": {n: {"type": type_label(p.type), "policy": p.policy, "required": p.required, "doc": p.doc} for n, p in cls.inputs.items()},
        "outputs": {n: {"type": type_label(p.type), "doc": p.doc} for n, p in cls.outputs.items()},
        "params": cls.Params.model_json_schema(),
    }


def _lookup(name: str) -> type[Node]:
    cls = registry.get(name)
    if cls is None:
        import difflib

        names = list(registry.node_types())
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise UsageError(f"unknown node type '{name}'{hint}; `meetflow nodes` lists them")
    return cls


def describe(name: str | None, as_json: bool, console: Console) -> None:
    if name is None:
        types = registry.node_types()
        if as_json:
            console.print_json(json.dumps({n: node_schema(c) for n, c in types.items()}))
            return
        width = max(len(n) for n in types) if types else 0
        for n, cls in types.items():
            ins = ", ".join(f"{p}:{type_label(d.type)}" for p, d in cls.inputs.items()) or "-"
            outs = ", ".join(f"{p}:{type_label(d.type)}" for p, d in cls.outputs.items()) or "-"
            console.print(f"[bold cyan]{n:<{width}}[/]  {escape(_plain(cls.summary()))}", highlight=False, soft_wrap=True)
            console.print(f"{'':<{width}}  [dim]{escape(ins)} -> {escape(outs)}[/]", highlight=False, soft_wrap=True)
        console.print("\n[dim]meetflow nodes TYPE: ports and params of one type[/]")
        for err in registry.plugin_errors():
            console.print(f"[yellow]warning:[/] {err}")
        return
    cls = _lookup(name)
    if as_json:
        console.print_json(json.dumps(node_schema(cls)))
        return
    console.print(f"[bold cyan]{cls.type_name}[/] ({'source' if issubclass(cls, Source) else 'node'})\n")
    console.print(escape(_plain(cls.description())) + "\n", highlight=False)
    for title, ports in (("inputs", cls.inputs), ("outputs", cls.outputs)):
        if not ports:
            continue
        t = Table(title=title, title_justify="left")
        t.add_column("port", style="bold")
        t.add_column("type")
        t.add_column("")
        for p, d in ports.items():
            policy = getattr(d, "policy", "ordered")  # inputs have one, outputs do not
            extra = f" [{policy}]" if policy != "ordered" else ""
            t.add_row(p, type_label(d.type) + extra, d.doc)
        console.print(t)
    schema = cls.Params.model_json_schema()
    props = schema.get("properties", {})
    if props:
        t = Table(title="params", title_justify="left")
        t.add_column("name", style="bold")
        t.add_column("type")
        t.add_column("default")
        t.add_column("description")
        required = set(schema.get("required", []))
        for p, s in props.items():
            default = "(required)" if p in required else json.dumps(s.get("default"))
            t.add_row(p, _schema_type(s), default, s.get("description", ""))
        console.print(t)
    console.print("JSON Schema: [dim]meetflow nodes " + cls.type_name + " --json[/]")


def _plain(text: str) -> str:
    """A docstring as terminal text: reST literals (``x``) unquoted, paragraphs re-flowed
    so the terminal wraps them (list items and indented lines keep their own line)."""
    out: list[str] = []
    for line in text.replace("``", "").splitlines():
        stripped = line.strip()
        joinable = out and out[-1] and stripped and not stripped.startswith(("*", "-")) and not line.startswith("    ")
        if joinable:
            out[-1] += " " + stripped
        else:
            out.append(line.rstrip())
    return "\n".join(out)


def _schema_type(s: dict[str, Any]) -> str:
    if "enum" in s:
        return " | ".join(json.dumps(v) for v in s["enum"])
    if "anyOf" in s:
        return " | ".join(_schema_type(x) for x in s["anyOf"])
    if s.get("type") == "array":
        return f"list[{_schema_type(s.get('items', {}))}]"
    return str(s.get("type", "any"))
