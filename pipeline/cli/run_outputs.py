"""What a run may write, checked before it starts, and the lock on its output folder.

A run must never destroy something the user made: the recording it reads, an earlier
run's results (a transcript is someone's meeting; only ``--overwrite`` replaces it), or an
unrelated file that ``--metrics`` or ``--trace`` names by mistake. And it should not learn
that it cannot write its metrics only after an hour of transcription. So every path the
run will write is checked here, up front, and two runs cannot write into one folder at once
(their journals would interleave).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Callable, Iterator

from ..errors import OutputError
from ..graph import Graph


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def planned_files(graph: Graph) -> list[Path]:
    """Every file the graph's sinks will write (whether or not it exists yet)."""
    return [p for spec in graph.nodes.values() for p in spec.cls.files_written(spec.params)]


def read_files(graph: Graph) -> list[Path]:
    """The recordings the graph's sources read."""
    return [p for spec in graph.nodes.values() for p in spec.cls.files_read(spec.params)]


def files_to_replace(graph: Graph) -> list[Path]:
    """The files this run's sinks would write that already exist: an earlier run's results.

    metrics.json and a trace are left out: they describe one run, like a log, and a run
    that failed at the start (a wrong device name) leaves a metrics.json that should not
    block the next try. Empty results are left out too: a run stopped while its models
    loaded leaves its sinks' files empty (or an empty transcript in their format), and
    nothing in them is worth keeping.
    """
    seen: set[Path] = set()
    found = []
    for p in planned_files(graph):
        try:
            key, kept = p.resolve(), p.is_file() and holds_something(p)
        except OSError:  # a folder we may not look into: the sink's own open reports it
            continue
        if kept and key not in seen:
            seen.add(key)
            found.append(p)
    return found


#: What the transcript formats hold when nothing was said (a run stopped at once, or silence).
_EMPTY_FORMS = {"", "[]", "{}", "WEBVTT"}


def holds_something(path: Path) -> bool:
    """Whether a result file holds anything (an empty file, or an empty transcript in its format, does not)."""
    size = path.stat().st_size
    if size == 0:
        return False
    if size > 64:
        return True
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip() not in _EMPTY_FORMS
    except OSError:
        return True


def refuse_to_replace(found: list[Path], out_dir: Path | None, what: str = "an earlier run's results", most: int = 4) -> None:
    """Stop (exit 5) before replacing ``found``, naming up to ``most`` of them (``what``: what they are, for the message)."""
    inside = out_dir is not None and all(p.parent == out_dir for p in found)
    names = ", ".join(p.name if inside else str(p) for p in found[:most]) + (f" and {len(found) - most} more" if len(found) > most else "")
    if inside:
        raise OutputError(f"{out_dir}/ already holds {what} ({names}); give another --out, move them away, "
                          "or add --overwrite to replace them")
    raise OutputError(f"this run would replace files that exist ({names}); move them away, write elsewhere, "
                      "or add --overwrite to replace them")


def left_beside(graph: Graph, out_dir: Path | None) -> list[Path]:
    """Files in the output folder that this run will not rewrite (an earlier run of another graph left them):
    with --overwrite they stay beside the new results, so the folder mixes two runs unless the user is told."""
    if out_dir is None or not out_dir.is_dir():
        return []
    planned = {p.name for p in planned_files(graph) if p.parent == out_dir} | {"metrics.json"}
    inputs = read_files(graph)
    try:
        return sorted(p for p in out_dir.iterdir() if p.is_file() and not p.name.startswith(".") and p.name not in planned
                      and not any(_same(p, src) for src in inputs))
    except OSError:
        return []


def nearest_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists: the folder whose permissions decide whether ``path`` can be made."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_not_inputs(graph: Graph) -> None:
    """No sink may write the recording the run reads (``record --to`` naming the input; even with --overwrite)."""
    inputs = read_files(graph)
    for p in planned_files(graph):
        for src in inputs:
            if _same(p, src):
                raise OutputError(f"{p}: that is the recording this run reads; writing it would destroy it (choose another file)")


def looks_like_metrics(path: Path) -> bool:
    """Whether ``path`` holds an earlier run's metrics.json (safe to replace: it describes one run, like a log)."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.loads(f.read(1 << 22))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and isinstance(doc.get("run"), dict) and "media_s" in doc["run"]


def looks_like_trace(path: Path) -> bool:
    """Whether ``path`` holds an earlier ``--trace`` (a JSON array of trace events; a dead run's lacks its ']')."""
    try:
        with open(path, encoding="utf-8") as f:
            head = f.read(4096)
    except (OSError, UnicodeDecodeError):
        return False
    return head.startswith("[\n") and ('"ph"' in head or head.strip() == "[")


def check_run_file(option: str, path: Path, graph: Graph, overwrite: bool, ours: Callable[[Path], bool]) -> None:
    """A file the run writes besides its sinks' (``--metrics``, ``--trace``): checked before the run starts.

    Refused: a folder; the recording the run reads or a file a sink writes (always); an
    existing file that is not what this option writes (unless --overwrite: it may be the
    user's); a folder that cannot be written.
    """
    if path.is_dir():
        raise OutputError(f"{option} {path}: is a folder; name a file")
    for src in read_files(graph):
        if _same(path, src):
            raise OutputError(f"{option} {path}: that is the recording this run reads; writing it would destroy it")
    for p in planned_files(graph):
        if _same(path, p):
            raise OutputError(f"{option} {path}: the run writes its {p.name} there; choose another file")
    try:
        size = path.stat().st_size if path.exists() else 0
    except OSError as exc:
        raise OutputError(f"{option} {path}: cannot look at it ({exc.strerror or exc})") from None
    if size and not overwrite and not ours(path):
        raise OutputError(f"{option} {path}: exists and is not what {option} writes; choose another file, "
                          "or add --overwrite to replace it")
    parent = nearest_existing(path.parent)
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {path}: cannot write into {parent}/ (permission denied or not a folder)")


@contextlib.contextmanager
def hold_out_dir(out_dir: Path | None) -> Iterator[None]:
    """Hold the output folder for the run: a second run into the same folder stops at once.

    The lock is an advisory flock on the folder itself (no lock file left behind); the OS
    drops it when the process ends, however it ends. Where flock is missing (Windows) or the
    folder cannot be made here, the run goes on without it and its sinks report any problem.
    """
    if out_dir is None:
        yield
        return
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    made = not out_dir.exists()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(out_dir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        yield  # the sinks' own open says what is wrong with the folder
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            made = False
            raise OutputError(f"{out_dir}/: another meetflow run is writing into this folder now; wait for it to end "
                              "or give another --out") from None
        except OSError:
            pass  # a file system without locks: go on unguarded
        yield
    finally:
        os.close(fd)
        if made:  # a run that stopped before writing anything leaves no empty folder behind
            with contextlib.suppress(OSError):
                out_dir.rmdir()
