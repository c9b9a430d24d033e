"""Speech activity: voice activity detection, segmentation and overload shedding."""

from . import shed, vad  # noqa: F401  (registers speech.shed, speech.vad)
