"""Generic audio operations: resampling, mixing down."""

from . import mixdown  # noqa: F401  (registers audio.mixdown)
