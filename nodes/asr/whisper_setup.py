"""Set-up shared by the nodes that run Whisper (``asr.whisper``, ``asr.hec``).

Kept in one place so that both nodes check their input and report a bad model or compute
type the same way (graph errors that name the parameter), and a third Whisper node gets it
for free.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline import ConfigError, StreamInfo

from .whisper_model import SAMPLE_RATE


def transcript_info(inputs: Mapping[str, StreamInfo]) -> dict[str, StreamInfo]:
    """The ``transcript`` output's stream info; the ``speech`` input must be 16 kHz (Whisper's rate)."""
    info = inputs.get("speech", StreamInfo())
    if info.rate is not None and info.rate != SAMPLE_RATE:
        raise ConfigError(f"Whisper needs 16000 Hz audio but receives {info.rate} Hz; set the source's rate to 16000")
    return {"transcript": info.with_(rate=None, channels=None)}


def load_whisper(model: str | None, compute_type: str, threads: int) -> Any:
    """Load a CTranslate2 Whisper model; a missing folder or unsupported compute type is a graph error."""
    from .whisper_model import load_model

    try:
        return load_model(model, compute_type, threads)
    except FileNotFoundError as exc:
        raise ConfigError(str(exc), "model") from None
    except ValueError as exc:  # e.g. an unsupported compute type
        raise ConfigError(str(exc), "compute_type") from None
