"""Speech activity: voice activity detection and segmentation."""

from . import vad  # noqa: F401  (registers speech.vad)
