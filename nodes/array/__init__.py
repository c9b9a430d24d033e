"""Microphone arrays: geometry, STFT, direction of arrival, talker tracking, and their sinks."""

from . import doa_node, mics, stft, tracker, writers  # noqa: F401  (registers the array.* node types)
