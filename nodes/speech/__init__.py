"""Speech activity: voice activity detection, segmentation and overload shedding."""

from . import delay, shed, vad  # noqa: F401  (registers speech.delay, speech.shed, speech.vad)
