"""The live web view: a local page showing the transcript as it forms and where talkers are.

``meetflow run ... --web`` serves one page over HTTP and pushes updates to it over a
WebSocket on the same port (bound to 127.0.0.1 unless told otherwise): final segments in
speaker colours, partial text, a compass of talker directions, and the run's health
(capture level, lost audio, drift, node load, overload drops). A page opened late gets the
whole transcript so far; a page that loses its connection reconnects.

The server is the ``websockets`` package (an optional extra, ``meetflow[web]``), imported
only when the view starts, in a thread of its own with its own event loop; nodes hand it
updates from their threads through ``update``, which never blocks them.

Only pages served by this server may connect: a WebSocket handshake from another origin
(another site open in the same browser) is refused, as are requests whose Host header is
not this server (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import json
import threading
from http import HTTPStatus
from importlib import resources
from typing import Any

from ..errors import UsageError
from ..payloads import Tracks, TranscriptUpdate

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
_LOCAL = {"127.0.0.1", "localhost", "::1", "[::1]"}
_MAX_BACKLOG = 1 << 20  # bytes waiting to be sent to one page


def _backlog(connection: Any) -> int:
    try:
        return int(connection.transport.get_write_buffer_size())
    except Exception:
        return 0


def page_html() -> str:
    return resources.files(__package__).joinpath("web", "index.html").read_text(encoding="utf-8")


def tracks_json(t: Tracks) -> list[dict[str, Any]]:
    return [
        {"id": tr.track_id, "azimuth_deg": round(float(tr.azimuth_deg), 1), "std_deg": round(float(tr.std_deg), 1), "active": bool(tr.active)}
        for tr in t.tracks
    ]


class WebView:
    """Serves the live page; ``update`` takes ``TranscriptUpdate`` and ``Tracks`` from any thread."""

    prints_finals = False

    def __init__(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, status: Any = None, title: str = "meetflow") -> None:
        self.host, self.port = host, port
        self.status = status
        self.title = title
        self._segments: dict[str, dict[str, Any]] = {}  # newest revision per segment id, in order of arrival
        self._tracks: list[dict[str, Any]] = []
        self._clients: set[Any] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopping: asyncio.Event | None = None
        self._ended: dict[str, Any] | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    # -- updates from node threads --------------------------------------------------------------
    def update(self, obj: Any) -> None:
        if isinstance(obj, Tracks):
            msg: dict[str, Any] = {"type": "tracks", "tracks": tracks_json(obj)}
            with self._lock:
                self._tracks = msg["tracks"]
        elif isinstance(obj, TranscriptUpdate):
            row = obj.to_json()
            with self._lock:
                old = self._segments.get(obj.segment_id)
                if old is not None and old.get("revision", 0) > obj.revision:
                    return
                self._segments[obj.segment_id] = row
            msg = {"type": "segment", "segment": row}
        else:
            return
        self._send(msg)

    def _send(self, msg: dict[str, Any]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        text = json.dumps(msg, ensure_ascii=False)
        try:
            loop.call_soon_threadsafe(self._broadcast, text)
        except RuntimeError:  # the loop closed meanwhile
            pass

    def _broadcast(self, text: str) -> None:
        from websockets.asyncio.server import broadcast

        # A page that stopped reading (a suspended laptop) must not make us buffer forever.
        broadcast([c for c in self._clients if _backlog(c) < _MAX_BACKLOG], text)

    def _hello(self) -> str:
        with self._lock:
            segments = list(self._segments.values())
            tracks = list(self._tracks)
        msg: dict[str, Any] = {"type": "hello", "title": self.title, "segments": segments, "tracks": tracks}
        if self.status is not None:
            msg["status"] = self.status.snapshot()
        if self._ended is not None:
            msg["end"] = self._ended
        return json.dumps(msg, ensure_ascii=False)

    # -- the server ------------------------------------------------------------------------------
    def _http(self, connection: Any, request: Any) -> Any:
        headers = request.headers
        host = headers.get("Host", "")
        allowed = {f"{h}:{self.port}" for h in _LOCAL | {self.host, f"[{self.host}]"}}
        if self.host not in ("0.0.0.0", "::") and host not in allowed:
            return connection.respond(HTTPStatus.FORBIDDEN, "unexpected Host header\n")
        path = request.path.split("?", 1)[0]
        if path == "/ws":
            origin = headers.get("Origin")
            if origin is not None and origin.split("://", 1)[-1] != host:
                return connection.respond(HTTPStatus.FORBIDDEN, "cross-origin connections are refused\n")
            return None  # go on with the WebSocket handshake
        if path in ("/", "/index.html"):
            resp = connection.respond(HTTPStatus.OK, page_html())
            resp.headers["Content-Type"] = "text/html; charset=utf-8"
            resp.headers["Cache-Control"] = "no-store"
            return resp
        if path == "/state.json":
            resp = connection.respond(HTTPStatus.OK, self._hello())
            resp.headers["Content-Type"] = "application/json"
            return resp
        return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")

    async def _client(self, ws: Any) -> None:
        self._clients.add(ws)
        try:
            await ws.send(self._hello())
            async for _ in ws:  # the page sends nothing we need
                pass
        except Exception:
            pass
        finally:
            self._clients.discard(ws)

    async def _ticker(self) -> None:
        assert self._stopping is not None
        while not self._stopping.is_set():
            if self.status is not None and self._clients:
                try:
                    snap = self.status.snapshot()
                except Exception:  # a view must never take the run down
                    snap = None
                if snap is not None:
                    self._broadcast(json.dumps({"type": "status", "status": snap}))
            try:
                await asyncio.wait_for(self._stopping.wait(), 0.5)
            except asyncio.TimeoutError:
                pass

    async def _main(self) -> None:
        from websockets.asyncio.server import serve

        self._stopping = asyncio.Event()
        try:
            server = await serve(self._client, self.host, self.port, process_request=self._http, ping_interval=20, max_size=2**16)
        except OSError as exc:
            self._error = exc
            self._ready.set()
            return
        try:
            if self.port == 0:
                self.port = next(iter(server.sockets)).getsockname()[1]
            self._ready.set()
            ticker = asyncio.ensure_future(self._ticker())
            await self._stopping.wait()
            await ticker
            # Say goodbye so pages show that the run ended rather than a lost connection.
            for ws in list(self._clients):
                try:
                    await asyncio.wait_for(ws.close(1000, "run ended"), 1.0)
                except Exception:
                    pass
        finally:
            server.close()
            await server.wait_closed()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # pragma: no cover - reported by start()
            self._error = exc
            self._ready.set()
        finally:
            self._loop = None
            loop.close()

    def start(self) -> "WebView":
        try:
            import websockets  # noqa: F401
        except ImportError:
            raise UsageError("--web needs the 'websockets' package: pip install 'meetflow[web]'") from None
        self._thread = threading.Thread(target=self._run, name="meetflow:web", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            exc = self._error
            raise UsageError(f"--web: cannot serve on {self.host}:{self.port}: {getattr(exc, 'strerror', None) or exc}")
        return self

    def end(self, summary: dict[str, Any]) -> None:
        """Tell the pages that the run is over (and how it ended)."""
        self._ended = summary
        msg: dict[str, Any] = {"type": "end", "end": summary}
        if self.status is not None:
            try:
                msg["status"] = self.status.snapshot()
            except Exception:
                pass
        self._send(msg)

    def stop(self) -> None:
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            try:
                loop.call_soon_threadsafe(stopping.set)
            except RuntimeError:
                pass
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> "WebView":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
