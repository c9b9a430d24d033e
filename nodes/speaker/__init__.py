"""Who spoke: speaker embeddings, diarisation (online clustering, particle filter, Kalman-AHC), speaker-attributed transcripts."""

from . import attribute, diarizer, embedding_node, turns_writer  # noqa: F401  (registers the speaker.* node types)
