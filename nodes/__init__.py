"""meetflow's node library, one subpackage per domain.

Importing this package registers every built-in node type: it imports each domain
subpackage, and each subpackage's ``__init__`` imports its node modules. Node modules
import their heavy dependencies (models, torch) only when a node opens, so listing and
validating graphs works without them. Model code sits in plain modules beside the node
that wraps it (``speech/silero_model.py``, ``asr/whisper_model.py``, ...).
"""

import pkgutil
from importlib import import_module

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.ispkg:
        import_module(f"{__name__}.{_info.name}")
