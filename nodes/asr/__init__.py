"""Speech recognition: Whisper (faster-whisper), and the two-pass hybrid/end-to-end cascade.

* ``asr.whisper``: Whisper alone (packed windows for fast replay; stable partials or
  LocalAgreement streaming for live use);
* ``asr.sphinx``: the cascade's first pass (pocketsphinx: fast partials, endpointing,
  custom vocabulary);
* ``asr.hec``: the cascade's second pass (Whisper finals with aligned word times and
  calibrated confidence).
"""

from . import hec, sphinx, whisper  # noqa: F401  (registers the node types)
