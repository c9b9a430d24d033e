"""Capture from a microphone (array) in real time: the live source of a meeting graph."""

from __future__ import annotations

import math
import queue
import threading
import time
from datetime import datetime, timezone
from typing import Any, Literal, Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline import AudioBlock, InputError, Out, Packet, Source, StreamInfo, media_time

from . import devices
from .capture_clock import CaptureClock


class MicrophoneParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device: str | int | None = Field(None, description="Input device: its number or name in `meetflow devices` (a unique part of the name will do); null: the default input.")
    rate: int = Field(16000, ge=1000, le=384000, description="Sample rate of the audio the graph receives. The device is opened at this rate when it supports it, else at its own rate and resampled.")
    block_ms: float = Field(20.0, gt=0, le=1000, description="Block length in milliseconds.")
    channels: list[int] | None = Field(None, description="Channel map: device channels to keep (0-based, in this order); null keeps all that are opened.")
    expect_channels: int | None = Field(None, ge=1, description="Fail unless the graph receives exactly this many channels (the array's microphones).")
    device_channels: int | None = Field(
        None, ge=1, description="Channels to open on the device; default: enough for 'channels'/'expect_channels', else the device's own count "
        "(for PulseAudio/PipeWire: the default source's)."
    )
    duration_s: float | None = Field(None, gt=0, description="Stop after this much audio (default: until Ctrl-C).")
    latency: Literal["low", "high"] | float = Field("high", description="Device buffering asked of PortAudio: 'low', 'high' or seconds. 'high' survives a busy machine best.")
    buffer_s: float = Field(10.0, gt=0, le=600, description="Audio held between the device and the graph while the graph is busy; beyond that, audio is lost (counted).")
    fill_gaps: bool = Field(True, description="Replace lost audio with silence, so that media time keeps pace with the meeting.")
    loss_tolerance_s: float = Field(0.1, gt=0, description="A shortfall of delivered audio against the wall clock larger than this, lasting a second, counts as lost audio.")
    stall_timeout_s: float = Field(3.0, gt=0, description="A device that delivers nothing for this long is taken to be gone: the run ends with what was captured.")


def _spec_label(spec: str | int | None) -> str:
    return "mic" if spec is None else f"mic:{spec}"


class MicrophoneSource(Source):
    """Record from an input device (sounddevice/PortAudio) and stream it in fixed blocks.

    Media time comes from the count of frames the device delivered, plus any frames found
    lost (filled with silence, see ``fill_gaps``), so it advances with the meeting. The wall
    time at which each block was captured is recorded for latency figures.

    Lost audio is found two ways: PortAudio's overflow flag (JACK, ALSA hardware) and, since
    PulseAudio drops frames without saying so, by comparing the frames delivered with the
    wall clock (``capture_clock``). The same comparison measures the device clock's drift.
    Everything is reported in ``metrics.json`` under ``capture``.

    A device that disappears (unplugged, sound server killed) ends the stream: everything
    captured before is processed and written, and the command exits with status 3.
    """

    type_name = "io.microphone"
    Params = MicrophoneParams
    live = True
    outputs = {"audio": Out(AudioBlock, "Blocks of float32 audio, shape (frames, channels), in real time.")}

    params: MicrophoneParams

    def __init__(self, node_id: str, params: BaseModel, context: Any) -> None:
        super().__init__(node_id, params, context)
        self.label = _spec_label(self.params.device)
        self._stream: Any = None
        self._queue: queue.SimpleQueue[tuple[str, Any, float]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._buffered = 0  # frames queued between the callback and read()
        self._started = False
        self._ended = False
        self._finished = threading.Event()
        self._callback_error: str | None = None
        self._empty_polls = 0
        self._emitted = 0
        self._pending: list[tuple[np.ndarray, float | None]] = []
        self._pending_frames = 0
        self._flag_overflows = 0
        self._buffer_drops = 0
        self._level: np.ndarray | None = None  # recent peak per channel (decays), for live views
        self._max_level: np.ndarray | None = None
        self._latency_s: float | None = None
        self._last_report = 0.0
        self._resampler: Any = None

    # -- set-up ------------------------------------------------------------------------------------
    def configure(self, inputs: Mapping[str, StreamInfo]) -> Mapping[str, StreamInfo]:
        p = self.params
        sd = devices.sounddevice()
        dev = devices.resolve(p.device)
        self.device = dev
        spec = _spec_label(p.device)
        self.label = spec if str(p.device) == dev.name else f"{spec} ('{dev.name}')"
        if p.device_channels is not None:
            n_open = p.device_channels
        elif p.channels is not None:
            n_open = max(p.channels) + 1
        elif p.expect_channels is not None:
            n_open = p.expect_channels
        else:
            n_open = devices.natural_channels(dev)
        if n_open > dev.max_input_channels:
            raise InputError(f"{self.label}: has {dev.max_input_channels} input channel(s); cannot open {n_open}")
        if p.channels is not None:
            bad = [c for c in p.channels if not 0 <= c < n_open]
            if bad:
                raise InputError(f"{self.label}: {n_open} channel(s) opened (0-{n_open - 1}); cannot select channel(s) {bad} (set device_channels)")
            n_out = len(p.channels)
        else:
            n_out = n_open
        if p.expect_channels is not None and n_out != p.expect_channels:
            raise InputError(f"{self.label}: delivers {n_out} channel(s) but the graph expects {p.expect_channels}")
        self.n_open, self.n_channels, self.rate = n_open, n_out, p.rate
        self.device_rate = p.rate
        try:
            sd.check_input_settings(device=dev.index, channels=n_open, dtype="float32", samplerate=p.rate)
        except Exception:
            self.device_rate = int(round(dev.default_samplerate))
            try:
                sd.check_input_settings(device=dev.index, channels=n_open, dtype="float32", samplerate=self.device_rate)
            except Exception as exc:
                raise InputError(f"{self.label}: cannot record {n_open} channel(s) at {p.rate} or {self.device_rate} Hz ({exc})") from None
        self.session = "meeting-" + datetime.now().strftime("%Y%m%d-%H%M%S")
        extra = {"path": self.session, "device": dev.name, "live": True}
        return {"audio": StreamInfo(rate=self.rate, channels=n_out, duration_s=p.duration_s, extra=extra)}

    def open(self) -> None:
        sd = devices.sounddevice()
        p = self.params
        self._block = max(1, int(round(self.rate * p.block_ms / 1000.0)))
        self._limit = None if p.duration_s is None else int(round(p.duration_s * self.rate))
        self._capacity = int(p.buffer_s * self.device_rate)
        self.clock = CaptureClock(self.device_rate, tolerance_s=p.loss_tolerance_s)
        if self.device_rate != self.rate:
            from ..audio.resample import StreamingResampler

            self._resampler = StreamingResampler(self.device_rate, self.rate, self.n_channels)
        self._select = None if p.channels is None or p.channels == list(range(self.n_open)) else np.asarray(p.channels)
        try:
            self._stream = sd.InputStream(
                device=self.device.index,
                channels=self.n_open,
                samplerate=self.device_rate,
                dtype="float32",
                latency=p.latency,
                callback=self._callback,
                finished_callback=self._finished.set,
            )
        except Exception as exc:
            raise InputError(f"{self.label}: cannot open the device ({exc})") from None
        self.duration = p.duration_s

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort(ignore_errors=True)
                stream.close(ignore_errors=True)
            except Exception:  # a vanished device may refuse even this
                pass
        if self._started:
            self._report(final=True)

    # -- the audio thread ------------------------------------------------------------------------------
    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        """PortAudio's thread: copy, stamp, count. Never blocks, never allocates much."""
        wall = time.time()
        mono = time.monotonic()
        try:
            ago = time_info.currentTime - time_info.inputBufferAdcTime
        except Exception:
            ago = -1.0
        # Wall time at which the first frame of this buffer was captured.
        first = wall - ago if 0.0 <= ago < 2.0 else wall - frames / self.device_rate
        if status.input_overflow:
            self._flag_overflows += 1
        lost = self.clock.observe(mono, frames)
        if lost and self.params.fill_gaps:
            self._queue.put(("gap", lost, first))
        with self._lock:
            room = self._buffered + frames <= self._capacity
            if room:
                self._buffered += frames
        if room:
            # Fancy indexing copies; PortAudio reuses ``indata`` after we return.
            data = indata.copy() if self._select is None else indata[:, self._select]
            self._queue.put(("data", data, first))
        else:
            self._buffer_drops += frames
            if self.params.fill_gaps:
                self._queue.put(("gap", frames, first))

    # -- streaming ---------------------------------------------------------------------------------------
    def _start(self) -> None:
        try:
            self._stream.start()
        except Exception as exc:
            raise InputError(f"{self.label}: cannot start recording ({exc})") from None
        self._started = True
        self.started_at = datetime.now(timezone.utc)
        self.context.log.info(
            "capturing from %s: %d channel(s) at %d Hz; Ctrl-C stops and writes the transcript", self.label, self.n_channels, self.device_rate
        )
        try:
            self._latency_s = float(self._stream.latency)
        except Exception:
            self._latency_s = None
        self._started_mono = time.monotonic()

    def _take(self, kind: str, item: Any, first_wall: float) -> None:
        if kind == "gap":
            x: np.ndarray = np.zeros((int(item), self.n_channels), dtype=np.float32)
            wall: float | None = None
        else:
            x = item
            with self._lock:
                self._buffered -= len(x)
            wall = first_wall
        if self._resampler is not None:
            x = self._resampler.process(x)
        if len(x):
            self._pending.append((x, wall))
            self._pending_frames += len(x)

    def _emit_blocks(self, final: bool = False) -> None:
        block = self._block
        while self._pending_frames >= block or (final and self._pending_frames > 0):
            n = min(block, self._pending_frames)
            if self._limit is not None:
                n = min(n, self._limit - self._emitted)
                if n <= 0:
                    self._pending, self._pending_frames = [], 0
                    return
            parts = []
            need = n
            wall_end: float | None = None
            while need:
                x, wall = self._pending[0]
                if len(x) <= need:
                    parts.append(x)
                    self._pending.pop(0)
                    need -= len(x)
                    if wall is not None:
                        wall_end = wall + len(x) / self.rate
                else:
                    parts.append(x[:need])
                    self._pending[0] = (x[need:], None if wall is None else wall + need / self.rate)
                    if wall is not None:
                        wall_end = wall + need / self.rate
                    need = 0
            self._pending_frames -= n
            samples = parts[0] if len(parts) == 1 else np.concatenate(parts)
            start = self._emitted
            self._emitted += n
            t0, t1 = media_time(start, self.rate), media_time(self._emitted, self.rate)
            if wall_end is not None:
                self.context.clock.mark(t1, wall_end)
            self.position = t1
            peak = np.abs(samples).max(axis=0)
            self._level = peak if self._level is None else np.maximum(peak, self._level * 0.975)  # ~ -11 dB/s at 20 ms
            self._max_level = peak if self._max_level is None else np.maximum(peak, self._max_level)
            self.emit("audio", Packet(t0, t1, AudioBlock(np.ascontiguousarray(samples), self.rate, start)))

    def _device_gone(self, why: str) -> None:
        msg = f"{self.label}: the device stopped delivering audio after {self.position:.1f} s ({why}); everything captured before that was processed"
        self.context.summary.setdefault("input_damaged", []).append(msg)
        self._ended = True

    def read(self) -> bool:
        if self._ended:
            return False
        if not self._started:
            self._start()
        t = time.perf_counter()
        try:
            kind, item, wall = self._queue.get(timeout=0.1)
        except queue.Empty:
            kind = ""
        self.waited_s += time.perf_counter() - t
        if kind:
            self._empty_polls = 0
            self._take(kind, item, wall)
            while True:
                try:
                    kind, item, wall = self._queue.get_nowait()
                except queue.Empty:
                    break
                self._take(kind, item, wall)
        else:
            self._empty_polls += 1
        self._emit_blocks()
        now = time.monotonic()
        if now - self._last_report > 0.5:
            self._report()
        if self._limit is not None and self._emitted >= self._limit:
            self._halt()
            return False
        if self.context.stop.is_set():
            self._halt()
            return False
        if not kind:
            stream = self._stream
            if self._finished.is_set() or (stream is not None and not stream.active):
                self._drain()
                self._device_gone("the audio stream ended: device unplugged or sound server gone")
                return False
            if self._empty_polls * 0.1 >= self.params.stall_timeout_s:
                self._drain()
                self._device_gone(f"nothing received for {self.params.stall_timeout_s:.0f} s")
                return False
        return True

    def _halt(self) -> None:
        """Stop capturing now: the graph may take a while to finish what it has, and
        audio that arrives meanwhile belongs to no one (nor is it lost)."""
        stream = self._stream
        if stream is not None and not self._ended:
            try:
                stream.stop(ignore_errors=True)
            except Exception:
                pass
        self._ended = True

    def _drain(self) -> None:
        while True:
            try:
                kind, item, wall = self._queue.get_nowait()
            except queue.Empty:
                break
            self._take(kind, item, wall)
        self._emit_blocks()

    def flush(self) -> None:
        if not self._started:
            return
        self._halt()
        self._drain()
        if self._resampler is not None:
            tail = self._resampler.flush()
            if len(tail):
                self._pending.append((tail, None))
                self._pending_frames += len(tail)
        self._emit_blocks(final=True)
        self._report()

    # -- reporting -----------------------------------------------------------------------------------------
    def _report(self, final: bool = False) -> None:
        self._last_report = time.monotonic()
        c = self.clock.summary()
        def dbfs(levels: np.ndarray | None) -> list[float] | None:
            return None if levels is None else [round(20 * math.log10(max(float(v), 1e-6)), 1) for v in levels]

        lost_buffer = self._buffer_drops / self.device_rate
        stats = {
            "device": self.device.name,
            "host_api": self.device.host_api,
            "input": self.label,
            "rate": self.rate,
            "device_rate": self.device_rate,
            "channels": self.n_channels,
            "channel_map": self.params.channels,
            "latency_s": None if self._latency_s is None else round(self._latency_s, 4),
            "started_at": self.started_at.isoformat(timespec="milliseconds") if self._started else None,
            "media_s": round(self.position, 3),
            "wall_s": c["wall_s"],
            "frames": c["frames"],
            # Lost audio: found against the wall clock (device/server side) + dropped
            # because the graph fell more than buffer_s behind (exact).
            "lost_s": round(float(c["lost_s"]) + lost_buffer, 3),  # type: ignore[arg-type]
            "overflows": int(c["overflows"] or 0) + (1 if self._buffer_drops else 0),
            "lost_device_s": c["lost_s"],
            "lost_buffer_s": round(lost_buffer, 3),
            "device_overflow_flags": self._flag_overflows,
            "drift_ppm": c["drift_ppm"],
            "max_gap_s": c["max_gap_s"],
            "peak_dbfs": dbfs(self._level),
            "max_peak_dbfs": dbfs(self._max_level),
        }
        self.context.report.setdefault("capture", {})[self.id] = stats
        if final:
            drift = "not measured (under 20 s)" if stats["drift_ppm"] is None else f"{stats['drift_ppm']:+.1f} ppm"
            self.context.log.info(
                "%s: captured %.1f s; lost %.2f s in %d overflow(s); device clock drift against the system clock: %s",
                self.label, stats["media_s"], stats["lost_s"], stats["overflows"], drift,
            )
        if final and stats["lost_s"]:
            events = stats["overflows"]
            fill = "filled with silence" if self.params.fill_gaps else "skipped"
            self.context.summary.setdefault("warnings", []).append(
                f"{self.label}: {stats['lost_s']:.2f} s of audio lost in {events} overflow(s) ({fill}); see 'capture' in metrics.json"
            )
