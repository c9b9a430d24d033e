"""Sources and sinks that talk to the outside world: recordings, devices."""

from . import audio_file  # noqa: F401  (registers io.audio_file)
