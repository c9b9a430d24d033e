"""``njit`` for the diariser's scalar inner loops: numba's when it is installed, else the plain function.

The refinement passes' location scores walk Kalman filters over direction sequences one
direction at a time (``direction_track``); in Python that was about 60% of a pass (0.76 s a
pass on average at the full 600 s horizon of an hour-long meeting). Compiled by numba (a
dependency of the ``speaker`` extra) the same arithmetic in the same order gives the same
numbers bit for bit, and the walks cost little beside the calls. Without numba the
functions run as written on numpy arrays: the same results, about twice as slow as the
list-based Python they replaced. ``MEETFLOW_NO_NUMBA=1`` forces that, for comparing.
``cache=True`` keeps the compiled code in numba's cache (beside the module, or in the user's
cache directory where the install is read-only): a machine compiles once, not every run.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any


def _plain(*args: Any, **kwargs: Any) -> Any:
    """``njit``'s stand-in: ``@njit`` and ``@njit(...)`` both leave the function as it is."""
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return args[0]
    return lambda f: f


njit: Callable[..., Any]
try:
    if os.environ.get("MEETFLOW_NO_NUMBA"):
        raise ImportError("MEETFLOW_NO_NUMBA is set")
    from numba import njit  # type: ignore[no-redef]

    COMPILED = True
except ImportError:
    njit = _plain
    COMPILED = False
