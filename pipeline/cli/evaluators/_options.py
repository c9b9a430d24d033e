"""Argument types the evaluators share: a value that cannot mean anything is a wrong command line (exit 64)."""

from __future__ import annotations

import argparse
import math


def seconds(text: str) -> float:
    """Seconds, not below zero (a collar, a tolerance)."""
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not (v >= 0 and math.isfinite(v)):
        raise argparse.ArgumentTypeError(f"expected seconds, not below zero, got {text!r}")
    return v


def degrees(text: str) -> float:
    """An angle above 0 and at most 180 degrees (a gate)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected degrees, got {text!r}") from None
    if not 0 < v <= 180:
        raise argparse.ArgumentTypeError(f"expected degrees above 0 and at most 180, got {text}")
    return v
