"""Silero VAD (v5/v6) through onnxruntime, with numpy only.

The ``silero-vad`` package ships the model files but its Python wrapper needs torch and its
audio reader needs torchaudio (broken on CPU here). The ONNX graph itself is simple to
drive: each call takes the last 64 samples of the previous frame as context plus a 512
sample frame (16 kHz; 32 + 256 at 8 kHz) and a recurrent state, and returns the speech
probability and the new state. Usable without the engine.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

FRAME = {16000: 512, 8000: 256}
CONTEXT = {16000: 64, 8000: 32}


def bundled_model_path() -> Path:
    """The ONNX model inside the installed ``silero-vad`` package (found without importing it)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the silero-vad package is not installed (pip install 'meetflow[speech]')")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"
    if not path.exists():
        raise FileNotFoundError(f"silero-vad is installed but has no ONNX model at {path}")
    return path


class SileroVad:
    """Frame-by-frame speech probability from the Silero VAD ONNX model."""

    def __init__(self, rate: int = 16000, model_path: str | Path | None = None, threads: int = 1) -> None:
        import onnxruntime as ort

        if rate not in FRAME:
            raise ValueError(f"Silero VAD works at 8000 or 16000 Hz, not {rate}")
        self.rate = rate
        self.frame = FRAME[rate]
        self.context_size = CONTEXT[rate]
        opts = ort.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        path = Path(model_path) if model_path else bundled_model_path()
        self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        self._sr = np.array(rate, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros((1, self.context_size), dtype=np.float32)

    def __call__(self, frame: np.ndarray) -> float:
        """Speech probability of one frame of ``self.frame`` mono float32 samples."""
        x = np.concatenate([self._context, frame.reshape(1, -1).astype(np.float32, copy=False)], axis=1)
        prob, self._state = self.session.run(None, {"input": x, "state": self._state, "sr": self._sr})
        self._context = x[:, -self.context_size :]
        return float(prob[0, 0])
