"""Generic audio operations: resampling, mixing down, dereverberation."""

from . import dereverb, mixdown  # noqa: F401  (registers audio.dereverb, audio.mixdown)
