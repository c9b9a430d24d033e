"""Small general-purpose nodes: pass-through, null sink, synthetic ticks, delay (tests, benchmarks, debugging)."""

from . import basic, delay  # noqa: F401  (registers util.*)
