"""The node base classes.

A node declares typed ports and a pydantic ``Params`` model, and goes through a fixed life
cycle driven by an executor:

``configure(inputs) -> outputs``
    Check and derive stream formats (rates, channel counts) before anything runs. Cheap:
    no model loading. Raise ``InputError`` when the input does not fit.
``open()``
    Load models, allocate buffers.
``process(port, packet)``
    Consume one packet; emit any number of packets with ``self.emit(port, packet)``.
``flush()``
    End of stream: emit whatever is still held.
``close()``
    Release resources. Called even after failures.

Sources (``Source``) have no inputs; instead of ``process`` they implement ``read()``.

A node keeps its state to itself and its outputs depend only on its inputs and parameters,
never on the wall clock or on thread timing: that is what lets every executor produce the
same result. ``emit`` goes straight to the executor's dispatch table (no queue in between
for the inline executor), so it is cheap enough to call per 10 ms block.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping

from pydantic import BaseModel, ConfigDict

from .packet import Packet
from .ports import In, Out, StreamInfo

if TYPE_CHECKING:
    from .context import RunContext


class NoParams(BaseModel):
    """Parameters of a node that takes none."""

    model_config = ConfigDict(extra="forbid")


#: A dispatch target: ``fn(arg, packet)``. Calling a stored bound method with its argument
#: directly is markedly cheaper than a ``functools.partial``, and this call is the hop.
Target = tuple[Callable[[Any, Packet], None], Any]


def _discard(_arg: Any, _packet: Packet) -> None:
    """Dispatch target of an output port that nothing is connected to."""


def _ignore_watermark(_t: float) -> None:
    """Watermark target of an output port that nothing is connected to."""


class Node:
    """Base class of every processing node. Subclasses set ``type_name`` to register."""

    type_name: ClassVar[str] = ""
    Params: ClassVar[type[BaseModel]] = NoParams
    inputs: ClassVar[Mapping[str, In]] = {}
    outputs: ClassVar[Mapping[str, Out]] = {}
    #: Set by nodes whose calls are expensive (models): their every call is timed.
    heavy: ClassVar[bool] = False

    def __init__(self, node_id: str, params: BaseModel, context: "RunContext") -> None:
        self.id = node_id
        self.params = params
        self.context = context
        self._outs: dict[str, Target] = {name: (_discard, None) for name in self.outputs}
        self._watermarks: dict[str, Callable[[float], None]] = {name: _ignore_watermark for name in self.outputs}
        #: Output ports with at least one consumer in the graph (set by the executor before ``open``).
        self.wired: frozenset[str] = frozenset(self.outputs)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("type_name"):
            from .registry import register

            register(cls)

    # -- life cycle ---------------------------------------------------------------------
    def configure(self, inputs: Mapping[str, StreamInfo]) -> Mapping[str, StreamInfo]:
        """Derive output stream formats from input formats; default: pass the first through."""
        first = next(iter(inputs.values()), StreamInfo())
        return {name: first for name in self.outputs}

    def open(self) -> None:
        """Load models and allocate. Called once, after ``configure``."""

    @classmethod
    def files_written(cls, params: BaseModel) -> list[Path]:
        """The files a node with these params creates or replaces (sinks override this).

        Known before anything runs, so ``meetflow run`` can refuse to write over an earlier
        run's results (a transcript is hours of someone's meeting) unless told to.
        """
        return []

    @classmethod
    def files_read(cls, params: BaseModel) -> list[Path]:
        """The files a node with these params reads (file sources override this).

        Known before anything runs, so that no output of the run (``--metrics``, a
        recording's ``--to``, a sink's file) can be pointed at the recording it reads.
        """
        return []

    def process(self, port: str, packet: Packet) -> None:
        """Consume one packet that arrived on input ``port``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement process()")

    def flush(self) -> None:
        """End of stream: emit what is still held."""

    def close(self) -> None:
        """Release what ``open`` acquired. Must tolerate being called after a failed open."""

    # -- output -------------------------------------------------------------------------
    def emit(self, port: str, packet: Packet) -> None:
        """Send ``packet`` out of output ``port`` (to every connected input)."""
        fn, arg = self._outs[port]
        fn(arg, packet)

    def advance(self, port: str, t: float) -> None:
        """Promise that no later packet on ``port`` will start before media time ``t``.

        Needed only by nodes that can stay quiet on a port while their input moves on
        (a voice activity detector in silence): it lets a downstream join proceed.
        """
        self._watermarks[port](t)

    # -- description ----------------------------------------------------------------------
    @classmethod
    def summary(cls) -> str:
        doc = inspect.getdoc(cls) or ""
        return doc.split("\n\n")[0].replace("\n", " ")

    @classmethod
    def description(cls) -> str:
        return inspect.getdoc(cls) or ""


class Source(Node):
    """A node without inputs that produces packets: a file reader, a device, a generator."""

    #: True for sources that capture from a device in real time (the run is then "live").
    live: ClassVar[bool] = False

    def __init__(self, node_id: str, params: BaseModel, context: "RunContext") -> None:
        super().__init__(node_id, params, context)
        #: Media time up to which this source has produced (end of its last packet).
        self.position: float = 0.0
        #: Total media duration when known (recordings), for progress display.
        self.duration: float | None = None
        #: Seconds ``read`` spent waiting for input to arrive (a live device): not
        #: processing time, so executors leave it out of the node's timings.
        self.waited_s: float = 0.0

    @classmethod
    def live_for(cls, params: BaseModel) -> bool:
        """Whether a node of this type with these parameters captures live.

        Known before the node is built, so that the CLI can choose an executor; a source
        that can read either a file or a device (``io.audio_input``) decides by its
        parameters, and sets ``self.live`` to match.
        """
        return cls.live

    def read(self) -> bool:
        """Produce the next packet(s) with ``emit``. Return False at end of stream."""
        raise NotImplementedError(f"{type(self).__name__} does not implement read()")

    def process(self, port: str, packet: Packet) -> None:  # pragma: no cover - sources have no inputs
        raise RuntimeError("sources have no inputs")
