"""meetflow's engine: media-timed packets, typed nodes, JSON graphs and their executors.

The public API for writing nodes and running graphs from Python::

    from pipeline import Node, Source, In, Out, Packet, load_graph, run_graph
"""

from .context import RunContext
from .errors import ConfigError, ExitCode, GraphError, InputError, MeetflowError, NodeError, OutputError, Problem, UsageError
from .executors import EXECUTORS, run_graph
from .graph import EdgeSpec, Graph, NodeSpec
from .graph_load import build_graph, load_graph
from .mediatime import IngestClock, media_time, samples_at
from .node import NoParams, Node, Source
from .packet import Packet
from .payloads import AudioBlock, DirectionEstimate, Embedding, SpeakerTurn, Spectrum, SpeechAudio, Track, Tracks, TranscriptUpdate, Word
from .ports import In, Out, StreamInfo

__all__ = [
    "AudioBlock", "ConfigError", "DirectionEstimate", "EXECUTORS", "Embedding", "SpeakerTurn", "Spectrum", "Track", "Tracks", "EdgeSpec", "ExitCode", "Graph", "GraphError", "In", "IngestClock",
    "InputError", "MeetflowError", "NoParams", "Node", "NodeError", "NodeSpec", "Out", "OutputError", "Packet",
    "Problem", "RunContext", "Source", "SpeechAudio", "StreamInfo", "TranscriptUpdate", "UsageError",
    "Word", "build_graph", "load_graph", "media_time", "run_graph", "samples_at",
]
