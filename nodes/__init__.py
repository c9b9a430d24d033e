"""meetflow's node library, one subpackage per domain.

Importing this package registers every built-in node type. Node modules import their heavy
dependencies (models, torch) only when a node opens, so listing and validating graphs works
without them. Model code sits in plain modules beside the node that wraps it
(``speech/silero_model.py``, ``asr/whisper_model.py``, ...) and is usable without the engine.
"""

from importlib import import_module

#: Modules whose import registers the built-in node types.
BUILTIN_MODULES = (
    "nodes.util.basic",
    "nodes.io.audio_file",
    "nodes.audio.mixdown",
    "nodes.speech.vad",
    "nodes.asr.whisper",
    "nodes.transcript.writer",
    "nodes.transcript.console",
)

for _name in BUILTIN_MODULES:
    import_module(_name)
