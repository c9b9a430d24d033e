"""Sources and sinks that talk to the outside world: recordings, devices."""

from . import audio_file, audio_input, microphone, recorder  # noqa: F401  (register io.audio_file, io.audio_input, io.microphone, io.recorder)
