"""The revisable transcript: its state, file formats, writers and the console view."""

from . import console, writer  # noqa: F401  (registers transcript.*)
