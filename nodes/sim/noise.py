"""Background noise for simulated array recordings.

Room noise (ventilation, traffic, distant chatter) reaches a small array from all directions
at once: a *diffuse* field, whose channels are correlated at low frequencies and not at high
ones. For a spherically isotropic field the coherence between two mics ``d`` metres apart is
``sinc(2 f d / c)`` (numpy's normalised sinc). The generator follows the usual recipe (Habets &
Gannot, "Generating sensor signals in isotropic noise fields", 2007): independent noise per
channel in the STFT domain, mixed in every frequency bin by a square root of that coherence
matrix, then shaped to a pink (1/f) spectrum and overlap-added back to time. Independent
sensor (self-)noise is added on top. Uncorrelated white noise alone, the common shortcut,
is far easier for direction finding than what real rooms produce.
"""

from __future__ import annotations

import numpy as np

from ..array.geometry import diffuse_coherence


def diffuse_noise(mics_xyz: np.ndarray, n: int, rate: int, rng: np.random.Generator, n_fft: int = 512, colour: str = "pink") -> np.ndarray:
    """Spherically isotropic noise at the mics, shape (n, mics), unit mean power per channel."""
    mics_xyz = np.asarray(mics_xyz, dtype=np.float64)
    M = len(mics_xyz)
    hop = n_fft // 2
    frames = n // hop + 3
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate)
    mix = np.empty((len(freqs), M, M))
    for k, gamma in enumerate(diffuse_coherence(mics_xyz, freqs)):
        w, v = np.linalg.eigh(gamma)
        mix[k] = v @ np.diag(np.sqrt(np.clip(w, 0.0, None))) @ v.T  # symmetric square root
    shape = np.ones(len(freqs))
    if colour == "pink":
        shape = 1.0 / np.sqrt(np.maximum(freqs, 50.0))
    shape[0] = 0.0
    window = np.sqrt(np.hanning(n_fft + 1)[:-1])  # sqrt-Hann analysis and synthesis: perfect overlap-add at 50%
    out = np.zeros(((frames + 1) * hop, M))
    chunk = 512  # frames per batch: bounded memory whatever the length
    for c0 in range(0, frames, chunk):
        c1 = min(frames, c0 + chunk)
        spec = (rng.standard_normal((c1 - c0, len(freqs), M)) + 1j * rng.standard_normal((c1 - c0, len(freqs), M))) / np.sqrt(2.0)
        spec = np.einsum("kij,tkj->tki", mix, spec) * shape[None, :, None]
        frames_t = np.fft.irfft(spec, n=n_fft, axis=1) * window[None, :, None]
        for t in range(c1 - c0):
            s0 = (c0 + t) * hop
            out[s0 : s0 + n_fft] += frames_t[t]
    out = out[hop : hop + n]
    power = sum(float(np.einsum("ij,ij->", x, x)) for x in np.array_split(out, max(1, len(out) >> 20)))  # no squared copy (3 GB an hour)
    out /= np.sqrt(power / max(out.size, 1)) + 1e-20
    return out


def sensor_noise(n: int, mics: int, rng: np.random.Generator) -> np.ndarray:
    """Independent white noise per channel, unit power (microphone self-noise)."""
    return rng.standard_normal((n, mics))
