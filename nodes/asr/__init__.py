"""Speech recognition: Whisper (faster-whisper), and later streaming transducers and cascades."""

from . import whisper  # noqa: F401  (registers asr.whisper)
