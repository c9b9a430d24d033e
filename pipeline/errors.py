"""Errors that reach the user, each class with its own exit status.

The CLI turns these into one short message and an exit status; no traceback is shown for
them. Anything that is not a ``MeetflowError`` is a bug in meetflow and is reported as an
internal error (exit 1) with the traceback written to a log file instead of the terminal.
"""

from __future__ import annotations

from dataclasses import dataclass


class ExitCode:
    """Exit statuses of the ``meetflow`` command, one per class of failure."""

    OK = 0
    INTERNAL = 1
    GRAPH = 2
    INPUT = 3
    NODE = 4
    OUTPUT = 5
    USAGE = 64
    INTERRUPTED = 130


class MeetflowError(Exception):
    """Base of every error meant for the user rather than for a developer."""

    exit_code: int = ExitCode.INTERNAL

    def user_message(self) -> str:
        return str(self)


@dataclass(frozen=True)
class Problem:
    """One mistake in a graph, located by a JSON pointer into the graph document."""

    pointer: str
    message: str

    def __str__(self) -> str:
        return f"{self.pointer or '/'}: {self.message}"


class GraphError(MeetflowError):
    """A graph that cannot run. Carries every problem found, not just the first."""

    exit_code = ExitCode.GRAPH

    def __init__(self, problems: list[Problem], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__(self.user_message())

    def user_message(self) -> str:
        where = f"{self.source}: " if self.source else ""
        n = len(self.problems)
        if n == 1 and not self.problems[0].pointer:
            return f"{where}{self.problems[0].message}"
        if n == 1:
            return f"{where}invalid graph: {self.problems[0]}"
        lines = [f"{where}invalid graph ({n} problems):"]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)


class ConfigError(MeetflowError):
    """A node's parameters do not fit what it is connected to or what is installed.

    Raised by nodes in ``configure``/``open``; the executor turns it into a ``GraphError``
    that points at the node (and at ``param`` inside its params, when given).
    """

    exit_code = ExitCode.GRAPH

    def __init__(self, message: str, param: str | None = None) -> None:
        self.param = param
        super().__init__(message)


class InputError(MeetflowError):
    """The input (a recording or a device) is missing, unreadable or does not fit the graph."""

    exit_code = ExitCode.INPUT


class OutputError(MeetflowError):
    """Results cannot be written (output folder not writable, disk full)."""

    exit_code = ExitCode.OUTPUT


class UsageError(MeetflowError):
    """The command line itself is wrong (unknown variable, bad ``--set`` syntax, ...)."""

    exit_code = ExitCode.USAGE


class NodeError(MeetflowError):
    """A node failed while the graph was running.

    Raised by the executors after every sink has flushed, so what was transcribed before
    the failure is on disk.
    """

    exit_code = ExitCode.NODE

    def __init__(self, node_id: str, media_time: float | None, cause: BaseException) -> None:
        self.node_id = node_id
        self.media_time = media_time
        self.cause = cause
        super().__init__(self.user_message())

    def user_message(self) -> str:
        at = f" at media time {self.media_time:.3f} s" if self.media_time is not None else ""
        cause = self.cause
        text = cause.user_message() if isinstance(cause, MeetflowError) else f"{type(cause).__name__}: {cause}"
        return f"node '{self.node_id}' failed{at}: {text}"


class Interrupted(MeetflowError):
    """The user stopped the run (Ctrl-C or SIGTERM); sinks have flushed."""

    exit_code = ExitCode.INTERRUPTED

    def __init__(self, message: str = "interrupted; the transcript so far has been written") -> None:
        super().__init__(message)
