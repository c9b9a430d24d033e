"""Generic audio operations: resampling, mixing down."""
