"""Speech recognition: Whisper (faster-whisper), and later streaming transducers and cascades."""
