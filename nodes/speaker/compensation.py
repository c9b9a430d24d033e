"""Voice compensation: a fixed linear map that makes one talker's GE2E embeddings agree across places.

Why: the encoder's output moves with where a talker stands (the room's response reaches it
through the beam), and for a walker that movement can be as large as the distance to another
voice. Within-class covariance normalisation (WCCN) is the classic speaker-recognition answer:
learn, on labelled speech, how one talker's embeddings vary (places, rooms, words) and shrink
those directions. The map shipped here was learnt by ``tools/fit_voice_compensation.py`` on
espeak-ng voices that the simulated meetings never use, each speaking at eight places in 24
simulated rooms, heard through the same superdirective beam as ``graphs/meeting.json``, in
windows of every length the embedding node gives (0.75, 1.25 and 1.5 s: a short window varies
in its own ways, and a map learnt on 1.5 s windows alone made returning talkers' first second
worse).

The map keeps the common part of GE2E vectors: ``x -> unit(mu + A (x - mu))`` with ``mu`` the
training mean and ``A = c (S + r I)^-1/2`` (``S`` the within-talker covariance, ``r`` its mean
variance, ``c`` keeping the within-talker spread's total), so raw cosines keep their scale and
every threshold tuned on them keeps its meaning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: The map shipped with the node library (written by tools/fit_voice_compensation.py).
BUNDLED = Path(__file__).with_name("voice_compensation.npz")


class CompensationError(ValueError):
    """A compensation file that cannot be used (missing, unreadable, wrong shape)."""


@dataclass
class VoiceCompensation:
    mu: np.ndarray  # (d,) training mean
    a: np.ndarray  # (d, d) symmetric map of deviations from the mean
    info: dict[str, Any] = field(default_factory=dict)  # how it was fitted (voices, rooms, shrinkage)

    def __call__(self, v: np.ndarray) -> np.ndarray:
        """The compensated embedding of ``v``, scaled to length 1 (float32)."""
        x = self.mu + self.a @ (np.asarray(v, dtype=np.float64) - self.mu)
        return (x / max(float(np.linalg.norm(x)), 1e-12)).astype(np.float32)

    @classmethod
    def load(cls, path: str | Path) -> "VoiceCompensation":
        path = Path(path)
        if not path.is_file():
            raise CompensationError(f"voice compensation file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as z:
                mu, a = np.asarray(z["mu"], dtype=np.float64), np.asarray(z["A"], dtype=np.float64)
                info = json.loads(str(z["info"])) if "info" in z.files else {}
        except (OSError, ValueError, KeyError) as exc:
            raise CompensationError(f"{path}: not a voice compensation file (needs arrays 'mu' and 'A'; {exc})") from None
        if mu.ndim != 1 or a.shape != (len(mu), len(mu)) or not (np.all(np.isfinite(mu)) and np.all(np.isfinite(a))):
            raise CompensationError(f"{path}: 'mu' must be a vector and 'A' a square matrix of its size, all finite "
                                    f"(got {mu.shape} and {a.shape})")
        return cls(mu, a, info)

    def save(self, path: str | Path) -> None:
        np.savez_compressed(path, mu=self.mu.astype(np.float32), A=self.a.astype(np.float32), info=json.dumps(self.info))


def fit_wccn(vectors: np.ndarray, groups: list[Any], shrink: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(mu, A) of the spread-preserving WCCN map from embeddings (rows) labelled by talker ``groups``.

    ``shrink`` adds that many times the mean within-talker variance to every direction before
    inverting: 0 whitens fully (noisy directions blow up), large values approach the identity.
    """
    x = np.asarray(vectors, dtype=np.float64)
    ids: dict[Any, int] = {}
    keys = np.asarray([ids.setdefault(g, len(ids)) for g in groups])
    s = np.zeros((x.shape[1], x.shape[1]))
    n = 0
    for k in np.unique(keys):
        m = x[keys == k]
        if len(m) < 2:
            continue
        d = m - m.mean(axis=0)
        s += d.T @ d
        n += len(m) - 1
    if n == 0:
        raise ValueError("every talker needs at least two embeddings")
    s /= n
    vals, vecs = np.linalg.eigh(s + shrink * np.trace(s) / len(s) * np.eye(len(s)))
    w = (vecs / np.sqrt(vals)) @ vecs.T
    c = np.sqrt(np.trace(s) / np.trace(w @ s @ w))
    return x.mean(axis=0), c * w


def resolve(setting: str, location_aware: bool) -> VoiceCompensation | None:
    """The map a diariser uses: ``auto`` (the bundled map for location-aware diarisation), ``on``, ``off`` or a file.

    ``auto`` leaves embedding-only clustering (mono input, or ``method=embedding``) raw: its fixed
    joining threshold was set on raw cosines, and through the map its DER rose from 21% to 27%
    on the simulated meetings; the map was learnt on the beam, and on real mono audio it did not help.
    """
    if setting == "off" or (setting == "auto" and not location_aware):
        return None
    if setting in ("auto", "on"):
        return VoiceCompensation.load(BUNDLED)
    if not Path(setting).is_file():
        raise CompensationError(f"'{setting}' is neither auto, on, off nor a map file (no such file: {Path(setting).resolve()})")
    return VoiceCompensation.load(setting)
