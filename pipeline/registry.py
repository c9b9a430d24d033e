"""Which node types exist: built-ins and third-party plugins.

Node classes register themselves when their module is imported (``Node.__init_subclass__``).
Modules are found through the ``meetflow.nodes`` entry-point group: meetflow's own node
library declares itself there, and so can any other distribution::

    [project.entry-points."meetflow.nodes"]
    mynodes = "mypackage.nodes"          # a module whose import registers node classes

Node modules import their heavy dependencies (torch, models) lazily, in ``open()``, so that
listing and validating graphs works without them.
"""

from __future__ import annotations

import importlib
import logging
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .node import Node

ENTRY_POINT_GROUP = "meetflow.nodes"
_BUILTIN_MODULE = "nodes"

_registry: dict[str, type["Node"]] = {}
_discovered = False
_plugin_errors: list[str] = []
log = logging.getLogger("meetflow.registry")


def register(cls: type["Node"]) -> type["Node"]:
    """Add a node class under its ``type_name``; a second class with the same name is an error."""
    from .node import Node, Source

    name = cls.type_name
    existing = _registry.get(name)
    if existing is not None and existing is not cls and existing.__qualname__ != cls.__qualname__:
        raise TypeError(f"node type '{name}' is registered twice: {existing.__module__} and {cls.__module__}")
    if not issubclass(cls, Source) and not cls.inputs:
        raise TypeError(f"node type '{name}' has no inputs; derive it from Source")
    if issubclass(cls, Source) and cls.inputs:
        raise TypeError(f"source '{name}' must not declare inputs")
    assert issubclass(cls, Node)
    _registry[name] = cls
    return cls


def discover() -> None:
    """Import the built-in node library and every plugin (once)."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    seen: set[str] = set()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        seen.add(ep.value.split(":")[0])
        try:
            ep.load()
        except Exception as exc:  # a broken plugin must not break meetflow
            msg = f"could not load node plugin '{ep.name}' ({ep.value}): {type(exc).__name__}: {exc}"
            _plugin_errors.append(msg)
            log.warning(msg)
    if _BUILTIN_MODULE not in seen:
        # Running from a source checkout without installed metadata.
        importlib.import_module(_BUILTIN_MODULE)


def node_types() -> dict[str, type["Node"]]:
    """All registered node types by name, sorted."""
    discover()
    return dict(sorted(_registry.items()))


def get(name: str) -> type["Node"] | None:
    discover()
    return _registry.get(name)


def plugin_errors() -> list[str]:
    discover()
    return list(_plugin_errors)
