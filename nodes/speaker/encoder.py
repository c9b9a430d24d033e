"""The GE2E speaker encoder that ``resemblyzer`` ships, run without resemblyzer's import chain.

Why not ``resemblyzer.VoiceEncoder`` itself: importing resemblyzer imports librosa and
webrtcvad (7 s of numba warm-up on 2 cores, measured) and its ``preprocess_wav`` trims
silences and renormalises with a VAD of its own, which would move window boundaries away
from media time. The network is small (3-layer LSTM, 256 units, 40 mel bands, 10 ms hop), so
this module rebuilds it in plain torch, loads the ``pretrained.pt`` that the package bundles
(by path), and computes the same mel spectrogram as ``librosa.feature.melspectrogram``
(Slaney mel filterbank, Hann window, 25 ms frames, centred, power 2) in numpy.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
PARTIAL_FRAMES = 160  # the network was trained on 1.6 s partials
EMBED_DIM = 256


def default_weights() -> Path:
    """Path of the GE2E weights bundled by the resemblyzer package (not imported)."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the speaker encoder needs the resemblyzer package (pip install --no-deps resemblyzer; see tools/setup.sh)")
    path = Path(spec.origin).parent / "pretrained.pt"
    if not path.exists():
        raise FileNotFoundError(f"resemblyzer is installed but its model is missing: {path}")
    return path


def _hz_to_mel(f: float | np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default, htk=False): linear below 1 kHz, log above."""
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, mels)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


@lru_cache(maxsize=2)
def mel_filterbank(rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular filters with Slaney area normalisation (= librosa.filters.mel)."""
    fft_freqs = np.linspace(0, rate / 2, n_fft // 2 + 1)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(rate / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.astype(np.float32)


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    n = np.arange(N_FFT)
    return (0.5 - 0.5 * np.cos(2 * np.pi * n / N_FFT)).astype(np.float32)  # periodic Hann, as scipy/librosa


def mel_spectrogram(wav: np.ndarray) -> np.ndarray:
    """(frames, 40) mel power spectrogram of 16 kHz audio, frame f centred on sample f * 160."""
    x = np.asarray(wav, dtype=np.float32)
    x = np.pad(x, (N_FFT // 2, N_FFT // 2))
    n_frames = 1 + (len(x) - N_FFT) // HOP
    if n_frames <= 0:
        return np.zeros((0, N_MELS), dtype=np.float32)
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]
    spec = np.abs(np.fft.rfft(x[idx] * _window(), axis=1)) ** 2
    return (spec.astype(np.float32) @ mel_filterbank().T).astype(np.float32)


class SpeakerEncoder:
    """Speaker embeddings (256-d, L2-normalised, non-negative) of 16 kHz mono audio.

    ``embed(wav)`` follows resemblyzer's ``embed_utterance``: 1.6 s partials (zero-padded
    when the audio is shorter) every ``1 / rate`` seconds, averaged and renormalised.
    Shorter audio gives noisier embeddings: the diarisers weigh windows by duration.
    """

    def __init__(self, weights: str | Path | None = None, threads: int = 1) -> None:
        import torch
        from torch import nn

        self._torch = torch
        path = Path(weights) if weights else default_weights()
        if not path.exists():
            raise FileNotFoundError(f"speaker encoder weights not found: {path}")
        self.lstm = nn.LSTM(N_MELS, 256, 3, batch_first=True)
        self.linear = nn.Linear(256, EMBED_DIM)
        state = torch.load(path, map_location="cpu", weights_only=True)["model_state"]
        self.lstm.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("lstm.")})
        self.linear.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("linear.")})
        self.lstm.eval()
        self.linear.eval()
        self.threads = threads

    def _forward(self, mels: np.ndarray) -> np.ndarray:
        torch = self._torch
        prev = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                _, (hidden, _) = self.lstm(torch.from_numpy(mels))
                e = torch.relu(self.linear(hidden[-1]))
                e = e / torch.clamp(torch.norm(e, dim=1, keepdim=True), min=1e-9)
            return e.numpy()
        finally:
            if self.threads:
                torch.set_num_threads(prev)

    def embed(self, wav: np.ndarray, rate: float = 1.3, min_coverage: float = 0.75) -> np.ndarray:
        """The utterance embedding of ``wav`` (float32, 16 kHz), as resemblyzer computes it."""
        wav = np.asarray(wav, dtype=np.float32)
        n_frames = int(np.ceil((len(wav) + 1) / HOP))
        step = max(1, int(round((SAMPLE_RATE / rate) / HOP)))
        starts = list(range(0, max(1, n_frames - PARTIAL_FRAMES + step + 1), step))
        last = starts[-1] * HOP
        coverage = (len(wav) - last) / (PARTIAL_FRAMES * HOP)
        if coverage < min_coverage and len(starts) > 1:
            starts = starts[:-1]
        need = (starts[-1] + PARTIAL_FRAMES) * HOP
        if need > len(wav):
            wav = np.pad(wav, (0, need - len(wav)))
        mel = mel_spectrogram(wav)
        mels = np.stack([mel[s : s + PARTIAL_FRAMES] for s in starts])
        partials = self._forward(mels)
        e = partials.mean(axis=0)
        return (e / max(float(np.linalg.norm(e)), 1e-9)).astype(np.float32)

    @staticmethod
    def normalize_volume(wav: np.ndarray, target_dbfs: float = -30.0) -> np.ndarray:
        """Scale to resemblyzer's training loudness (-30 dBFS RMS); only ever up-scales quiet audio, like its preprocessing."""
        rms = float(np.sqrt(np.mean(np.square(wav), dtype=np.float64))) if len(wav) else 0.0
        if rms <= 1e-8:
            return wav
        gain = 10 ** ((target_dbfs - 20 * np.log10(rms)) / 20)
        return (wav * gain).astype(np.float32) if gain > 1 else wav
