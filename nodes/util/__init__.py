"""Small general-purpose nodes: pass-through, null sink, synthetic ticks (tests, benchmarks, debugging)."""
