"""Short lists of ids for evaluators' notes (a reference may hold hundreds of files)."""

from __future__ import annotations

from collections.abc import Iterable


def some(ids: Iterable[str], most: int = 4) -> str:
    """The first ``most`` ids in sorted order, and how many more there are."""
    shown = sorted(ids)
    rest = len(shown) - most
    return ", ".join(shown[:most]) + (f" and {rest} more" if rest > 0 else "")
