"""The speaker encoder: same embeddings as resemblyzer's own VoiceEncoder, and a speaker-discriminative space."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import needs_espeak

from nodes.speaker.encoder import SpeakerEncoder, mel_filterbank, mel_spectrogram


@pytest.mark.slow
def test_matches_resemblyzer_voice_encoder() -> None:
    librosa = pytest.importorskip("librosa")
    resemblyzer = pytest.importorskip("resemblyzer")
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(16000 * 3)).astype(np.float32)
    assert np.abs(librosa.filters.mel(sr=16000, n_fft=400, n_mels=40) - mel_filterbank()).max() < 1e-6
    ref = librosa.feature.melspectrogram(y=x, sr=16000, n_fft=400, hop_length=160, n_mels=40).T
    assert np.abs(ref - mel_spectrogram(x)).max() / ref.max() < 1e-5
    theirs = resemblyzer.VoiceEncoder("cpu", verbose=False).embed_utterance(x)
    assert float(np.dot(theirs, SpeakerEncoder().embed(x))) > 0.999


@needs_espeak
def test_same_voice_is_closer_than_another_voice() -> None:
    from nodes.sim.tts import synthesize

    enc = SpeakerEncoder()
    a1 = enc.embed(synthesize("Please send me a short summary after lunch.", "en-us+m3"))
    a2 = enc.embed(synthesize("We finished the new design for the login page.", "en-us+m3"))
    b1 = enc.embed(synthesize("Please send me a short summary after lunch.", "en+f2"))
    assert abs(float(np.linalg.norm(a1)) - 1.0) < 1e-4 and a1.shape == (256,)
    assert float(a1 @ a2) > float(a1 @ b1) + 0.05
