"""A streaming polyphase resampler for rational rate ratios.

Why our own: ``scipy.signal.resample_poly`` works on whole signals, and restarting it per
block leaves seams. This one keeps the few input samples each output needs, so any block
size gives the same output, and it compensates the filter's delay so that media time is
preserved exactly: input sample ``n`` at ``rate_in`` lands at output time ``n / rate_in``.

Output sample ``j`` is the windowed-sinc interpolation at input position ``j * M / L``
(``L/M`` = ``rate_out/rate_in`` in lowest terms), computed as a dot product of ``K`` input
samples with one of ``L`` filter phases. A stream of ``n`` input samples yields exactly
``ceil(n * L / M)`` output samples.
"""

from __future__ import annotations

from math import gcd

import numpy as np


def design_filter(up: int, down: int, zero_crossings: int = 16, beta: float = 8.6) -> np.ndarray:
    """Kaiser-windowed sinc low-pass at the upsampled rate, gain ``up``, odd length."""
    from scipy.signal import firwin

    factor = max(up, down)
    half = zero_crossings * factor
    # Cut off a little below the lower Nyquist frequency so the transition band is rejected.
    return firwin(2 * half + 1, 0.94 / factor, window=("kaiser", beta)) * up


class StreamingResampler:
    """Resample blocks of shape (frames, channels) from ``rate_in`` to ``rate_out``."""

    def __init__(self, rate_in: int, rate_out: int, channels: int, zero_crossings: int = 16) -> None:
        g = gcd(rate_in, rate_out)
        self.up = rate_out // g
        self.down = rate_in // g
        self.channels = channels
        self.identity = self.up == self.down
        h = design_filter(self.up, self.down, zero_crossings)
        self.delay = (len(h) - 1) // 2
        self.taps = -(-len(h) // self.up)  # K: input samples per output sample
        padded = np.zeros(self.taps * self.up + self.up, dtype=np.float64)
        padded[: len(h)] = h
        # phases[r, k] = h[r + k * L]; output j uses phase (j*M + D) % L
        self.phases = padded[np.arange(self.up)[:, None] + self.up * np.arange(self.taps)[None, :]].astype(np.float32)
        self._buf = np.zeros((self.taps, channels), dtype=np.float32)  # zeros before the stream starts
        self._buf_start = -self.taps  # absolute input index of _buf[0]
        self._received = 0  # input samples received
        self._next = 0  # next output index

    def _produce(self, last: int) -> np.ndarray:
        """Output samples ``self._next .. last`` (inclusive) from the buffer."""
        if last < self._next:
            return np.zeros((0, self.channels), dtype=np.float32)
        j = np.arange(self._next, last + 1, dtype=np.int64)
        base = j * self.down + self.delay
        i_max = base // self.up
        phase = base % self.up
        out = np.empty((len(j), self.channels), dtype=np.float32)
        k = np.arange(self.taps, dtype=np.int64)
        step = 4096
        for a in range(0, len(j), step):
            idx = i_max[a : a + step, None] - k[None, :] - self._buf_start
            x = self._buf[idx]  # (J, K, C)
            h = self.phases[phase[a : a + step]]  # (J, K)
            out[a : a + step] = np.einsum("jk,jkc->jc", h, x)
        self._next = last + 1
        # Drop input no longer needed by the next output.
        keep_from = (self._next * self.down + self.delay) // self.up - self.taps + 1
        cut = keep_from - self._buf_start
        if cut > 0:
            self._buf = self._buf[cut:]
            self._buf_start += cut
        return out

    def process(self, block: np.ndarray) -> np.ndarray:
        """Feed input frames; return every output frame that they complete."""
        block = np.asarray(block, dtype=np.float32)
        if self.identity:
            return block
        self._buf = np.concatenate([self._buf, block]) if len(self._buf) else block.copy()
        self._received += len(block)
        # j is computable when its newest input index, (j*M + D) // L, has arrived.
        last = (self._received * self.up - 1 - self.delay) // self.down
        return self._produce(last)

    def flush(self) -> np.ndarray:
        """End of stream: the remaining outputs, reading zeros past the end of the input."""
        if self.identity:
            return np.zeros((0, self.channels), dtype=np.float32)
        total = -(-self._received * self.up // self.down)
        need = (((total - 1) * self.down + self.delay) // self.up) + 1 - (self._buf_start + len(self._buf))
        if need > 0:
            self._buf = np.concatenate([self._buf, np.zeros((need, self.channels), dtype=np.float32)])
        return self._produce(total - 1)
