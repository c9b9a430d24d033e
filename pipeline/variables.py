"""Graph variables: ``${name}`` placeholders filled from defaults, ``--input``/``--out`` and ``--set``.

A string that is exactly one placeholder takes the variable's value with its JSON type
(``"beam_size": "${beam}"`` becomes the number 5); a placeholder inside a longer string is
replaced by the value's text. ``$$`` writes a literal ``$``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import Problem, UsageError

_PLACEHOLDER = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_WHOLE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: How to supply each variable that the CLI fills from its own options.
CLI_HINTS = {"input": "--input PATH", "out": "--out DIR"}


@dataclass(frozen=True)
class Variable:
    name: str
    default: Any = None
    has_default: bool = False
    description: str = ""


class Unset:
    """Marker for a variable that has no value (left as its placeholder when only validating)."""


def parse_assignment(text: str) -> tuple[str, Any]:
    """Parse one ``--set name=value``; the value is JSON when it parses as JSON, else a string."""
    if "=" not in text:
        raise UsageError(f"--set expects name=value, got '{text}'")
    name, raw = text.split("=", 1)
    name = name.strip()
    if not NAME.match(name):
        raise UsageError(f"--set: '{name}' is not a valid variable name")
    return name, parse_value(raw)


def parse_value(raw: str) -> Any:
    """A value given on the command line: JSON when it parses as JSON (``5``, ``true``, ``null``, ``[0, 2]``), else the text."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def as_option(name: str, value: Any) -> str:
    """How the user gave a variable on the command line (``--input X``, ``--set beam_size=5``)."""
    if name in CLI_HINTS:
        return f"{CLI_HINTS[name].split()[0]} {value}"
    return f"--set {name}={value if isinstance(value, str) else json.dumps(value)}"


def blame(name: str, value: Any, message: str, pointer: str) -> str:
    """A parameter problem told as the command line's: ``--set beam_size=wide: <message> (graph parameter <pointer>)``."""
    return f"{as_option(name, value)}: {message} (graph parameter {pointer})"


def given_for(given_at: dict[str, str], pointer: str) -> str | None:
    """The command-line variable whose value went into ``pointer`` (or a parent of it), if any."""
    for filled, name in given_at.items():
        if pointer == filled or pointer.startswith(filled + "/"):
            return name
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class Resolver:
    """Substitutes placeholders in a JSON tree and records every problem with its pointer."""

    def __init__(self, declared: dict[str, Variable], values: dict[str, Any], strict: bool) -> None:
        self.declared = declared
        self.values = values
        self.strict = strict
        self.problems: list[Problem] = []
        self.missing: dict[str, str] = {}
        self.used: set[str] = set()
        #: Pointers where a placeholder was left unfilled (its value is not known yet).
        self.unfilled: set[str] = set()
        #: Pointers filled from a command-line value, and the variable that filled them: a
        #: problem there is the command line's, not the graph file's.
        self.given_at: dict[str, str] = {}

    def value_of(self, name: str, pointer: str) -> Any:
        self.used.add(name)
        if name in self.values:
            if pointer:  # "" is a lookup of the value itself, not a place in the graph
                self.given_at[pointer] = name
            return self.values[name]
        var = self.declared.get(name)
        if var is None:
            known = ", ".join(sorted(self.declared)) or "none"
            self.problems.append(Problem(pointer, f"unknown variable ${{{name}}} (declared variables: {known})"))
            self.unfilled.add(pointer)
            return Unset
        if var.has_default:
            return var.default
        if self.strict:
            self.missing.setdefault(name, pointer)
        self.unfilled.add(pointer)
        return Unset

    def resolve(self, node: Any, pointer: str) -> Any:
        if isinstance(node, dict):
            return {k: self.resolve(v, f"{pointer}/{_escape(k)}") for k, v in node.items()}
        if isinstance(node, list):
            return [self.resolve(v, f"{pointer}/{i}") for i, v in enumerate(node)]
        if not isinstance(node, str) or "$" not in node:
            return node
        whole = _WHOLE.match(node)
        if whole:
            value = self.value_of(whole.group(1), pointer)
            return node if value is Unset else value

        def sub(m: re.Match[str]) -> str:
            if m.group(0) == "$$":
                return "$"
            value = self.value_of(m.group(1), pointer)
            return m.group(0) if value is Unset else _text(value)

        return _PLACEHOLDER.sub(sub, node)

    def caused_by_unfilled(self, pointer: str) -> bool:
        """True when a problem at ``pointer`` may just be an unfilled placeholder."""
        return any(pointer == u or pointer.startswith(u + "/") for u in self.unfilled)

    def given_for(self, pointer: str) -> str | None:
        """The command-line variable whose value went into ``pointer`` (or a parent of it), if any."""
        return given_for(self.given_at, pointer)

    def missing_error(self) -> UsageError | None:
        if not self.missing:
            return None
        parts = []
        for name, pointer in self.missing.items():
            how = CLI_HINTS.get(name, f"--set {name}=VALUE")
            desc = self.declared[name].description
            parts.append(f"variable '{name}' has no value (used at {pointer}); pass {how}" + (f" ({desc})" if desc else ""))
        return UsageError("; ".join(parts))


def _escape(key: str) -> str:
    """Escape a key for a JSON pointer (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")
