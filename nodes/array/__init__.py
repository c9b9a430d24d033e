"""Microphone arrays: geometry, STFT, direction of arrival, talker tracking, beams, and their sinks."""

from . import beam_node, doa_node, mics, stft, tracker, writers  # noqa: F401  (registers the array.* node types)
