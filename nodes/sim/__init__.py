"""Simulation: synthetic speech with known text (espeak-ng), and later simulated rooms and arrays."""
