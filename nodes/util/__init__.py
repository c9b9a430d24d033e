"""Small general-purpose nodes: pass-through, null sink, synthetic ticks (tests, benchmarks, debugging)."""

from . import basic  # noqa: F401  (registers util.*)
