"""The array's entry point: which geometry the recording has, and clean mic channels for localisation."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline import AudioBlock, ConfigError, In, InputError, Node, Out, Packet, StreamInfo

from .geometry import PRESETS, ArrayGeometry, GeometryError, resolve_geometry
from .health import ChannelHealth, DcBlocker

#: StreamInfo.extra keys that the array nodes pass downstream.
GEOMETRY_KEY = "array_geometry"
#: The array ``array: auto`` takes a recording with its channel count for (the project's reference layout).
AUTO_PRESET = "circular7"
OFF_KEY = "array_off"


class MicsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    array: str = Field("circular7", description="Array geometry: a preset (" + ", ".join(PRESETS) + "), the path of a geometry "
                       "JSON file ({\"mics\": [[x, y, z], ...], \"units\": \"m\"}), 'none' to switch direction finding off, or "
                       f"'auto': {AUTO_PRESET} for a {PRESETS[AUTO_PRESET].n_mics}-channel input, and for any other channel count "
                       "no directions (with a note naming the presets that fit), since the count alone cannot tell which array recorded it.")
    mics: list[list[float]] | None = Field(None, description="Explicit mic coordinates [[x, y, z], ...] in metres, in channel order; "
                                           "overrides 'array'.")
    on_mono: Literal["stand_aside", "error"] = Field("stand_aside", description="A mono input: stand aside (the array branch of a "
                                                     "transcription graph) or reject it (a graph that only localises).")
    dc_block: bool = Field(True, description="Remove DC offset (a 20 Hz high-pass) before anything else.")
    check_channels: bool = Field(True, description="Detect dead, clipped and duplicated channels and leave them out of localisation.")
    dead_db: float = Field(-40.0, le=-10, description="A channel this far below the median channel's level counts as dead.")
    clip_fraction: float = Field(0.01, gt=0, lt=1, description="A channel at full scale in this share of its samples (and far more "
                                 "often than the others) counts as clipped.")


class ArrayMics(Node):
    """Declare the array geometry of the input and hand clean mic channels to localisation.

    ``configure`` checks the input's channel count against the geometry before any audio is
    processed (``meetflow validate --input`` reports a mismatch), picks the mic channels out
    of a device's raw stream (a ReSpeaker's 8 channels hold 6 mics), and passes the geometry
    downstream in the stream info. While running it removes DC offset and zeroes channels
    that are dead, clipped on their own, or mere copies of another, warning once for each:
    the direction finder leaves silent channels out, so one broken mic degrades accuracy
    instead of ruining it.

    A mono input (or ``array`` = none) has no directions to find: the node then stands aside,
    emitting nothing (only watermarks), and every array node after it does the same, so one
    graph serves mono and array recordings alike.
    """

    type_name = "array.mics"
    Params = MicsParams
    inputs = {"audio": In(AudioBlock, "The array's recording or live stream, all its channels.")}
    outputs = {"audio": Out(AudioBlock, "The mic channels in geometry order; DC removed, broken channels zeroed.", lag=0.0)}

    params: MicsParams

    def __init__(self, node_id: str, params: BaseModel, context: Any) -> None:
        super().__init__(node_id, params, context)
        self.geometry: ArrayGeometry | None = None
        self.off: str | None = None
        self._select: list[int] | None = None
        self._dc: DcBlocker | None = None
        self._health: ChannelHealth | None = None
        self._warned: set[tuple[str, int]] = set()
        self._where = "the input"
        self.auto = False  # array: auto (the geometry follows the channel count)

    # -- set-up ------------------------------------------------------------------------------
    def configure(self, inputs: Mapping[str, StreamInfo]) -> Mapping[str, StreamInfo]:
        info = inputs.get("audio", StreamInfo())
        p = self.params
        self.auto = p.mics is None and p.array.lower() == "auto"
        try:
            self.geometry = PRESETS[AUTO_PRESET] if self.auto else resolve_geometry(p.array, p.mics, Path.cwd())
        except GeometryError as exc:
            raise ConfigError(str(exc), "mics" if p.mics is not None else "array") from None
        path = info.extra.get("path")
        self._where = str(path) if path else "the input"
        if self.auto and self.geometry is not None and info.channels not in (None, 1, self.geometry.n_mics):
            return {"audio": self._stand_aside(info, self._unknown_array(info.channels), warn=True)}
        if self.geometry is None:
            return {"audio": self._stand_aside(info, f"direction finding is off (array={p.array})")}
        n = info.channels
        if n == 1:
            if p.on_mono == "error":
                raise InputError(f"{self._where}: is mono (1 channel): finding talker directions needs a multichannel array recording "
                                 f"(array '{self.geometry.name}' has {self.geometry.n_mics} mics)")
            return {"audio": self._stand_aside(info, "the input is mono: no directions to find, so direction finding and tracking stand aside")}
        if n is not None:
            self._select = self._channels_for(n)
        return {"audio": info.with_(channels=self.geometry.n_mics, extra={**info.extra, GEOMETRY_KEY: self.geometry})}

    def _stand_aside(self, info: StreamInfo, reason: str, warn: bool = False) -> StreamInfo:
        self.off = reason
        if warn:
            self._warn(("off", 0), reason)
        else:
            self.context.log.info("node '%s': %s", self.id, reason)
        return info.with_(channels=None, extra={**info.extra, OFF_KEY: reason})

    def _unknown_array(self, n: int) -> str:
        """Why ``array: auto`` finds no directions in an ``n``-channel input, and how to get them."""
        fits = [k for k, g in PRESETS.items() if g.input_channels(n) is not None]
        which = f" (presets for {n} channels: {', '.join(fits)})" if fits else ""
        return (f"{n} channels, and no array was named (array=auto takes only a {PRESETS[AUTO_PRESET].n_mics}-channel input, as "
                f"{AUTO_PRESET}): transcribed without talker directions; for directions, name the array that recorded it with "
                f"--set array=NAME{which} or a geometry JSON file")

    def _channels_for(self, n: int) -> list[int]:
        g = self.geometry
        assert g is not None
        sel = g.input_channels(n)
        if sel is None:
            how = "a geometry JSON file ('array' or 'mics'), or --set array=none to skip direction finding"
            raise InputError(f"{self._where}: has {n} channel(s), but array '{g.name}' expects {g.expected_channels()}; "
                             f"give the matching preset ({', '.join(f'{k}={v.n_mics}' for k, v in PRESETS.items())}), {how}")
        return sel

    def open(self) -> None:
        if self.off is None and self.params.dc_block:
            import scipy.signal  # noqa: F401  (slow to import: here, not in the first block of a live stream)
        self._dc = None
        self._health = None
        self._dc_sum: np.ndarray | float = 0.0
        self._dc_n = 0

    # -- streaming ---------------------------------------------------------------------------
    def process(self, port: str, packet: Packet) -> None:
        if self.off is not None:
            self.advance("audio", packet.t1)
            return
        block: AudioBlock = packet.payload
        x = block.samples
        if self._select is None:  # the channel count was unknown at configure (some live devices)
            if x.shape[1] == 1:
                self.off = "the input is mono: direction finding and tracking stand aside"
                self.advance("audio", packet.t1)
                return
            if self.auto and self.geometry is not None and x.shape[1] != self.geometry.n_mics:
                self.off = self._unknown_array(x.shape[1])
                self._warn(("off", 0), self.off)
                self.advance("audio", packet.t1)
                return
            self._select = self._channels_for(x.shape[1])
        if self._select != list(range(x.shape[1])):
            x = x[:, self._select]
        raw = x
        if self.params.dc_block:
            if self._dc is None:
                self._dc = DcBlocker(x.shape[1], block.rate)
            self._track_dc(x, block.rate)
            x = self._dc(x)
        if self.params.check_channels:
            if self._health is None:
                self._health = ChannelHealth(x.shape[1], block.rate, dead_db=self.params.dead_db, clip_fraction=self.params.clip_fraction)
            bad = self._health.update(raw, x)
            if bad.any():
                x = np.array(x, dtype=np.float32, copy=True)
                x[:, bad] = 0.0
            if self._health.changed:
                self._warn_channels(packet.t0)
            if self._health.decided and ("clip-all", 0) not in self._warned:
                self._note_clipping(packet.t0)
        elif x is block.samples:
            self.emit("audio", packet)
            return
        self.emit("audio", Packet(packet.t0, packet.t1, AudioBlock(np.ascontiguousarray(x, dtype=np.float32), block.rate, block.start)))

    # -- messages ----------------------------------------------------------------------------
    def _warn(self, key: tuple[str, int], message: str) -> None:
        """Say it once: in the log now, and in the run's summary (the CLI prints it at the end)."""
        if key in self._warned:
            return
        self._warned.add(key)
        msg = f"{self._where}: {message}"
        self.context.log.info(msg)
        self.context.summary.setdefault("warnings", []).append(msg)

    def _track_dc(self, x: np.ndarray, rate: int) -> None:
        """Average the raw signal over the first second; a large mean is a converter's DC offset."""
        if self._dc_n >= rate:
            return
        self._dc_sum = self._dc_sum + np.sum(x, axis=0, dtype=np.float64)
        self._dc_n += len(x)
        if self._dc_n >= rate:
            offsets = np.asarray(self._dc_sum / self._dc_n)
            bad = [int(c) for c in np.flatnonzero(np.abs(offsets) > 0.02)]
            if bad:
                what = ", ".join(f"mic {c} {offsets[c]:+.3f}" for c in bad)
                self._warn(("dc", 0), f"DC offset ({what}; full scale 1): removed before localisation")

    def _warn_channels(self, t: float) -> None:
        h = self._health
        assert h is not None
        left = int(np.sum(~h.bad))
        if h.report.duplicated:
            self._warn(("dup", 0), f"all {h.channels} channels carry the same signal (a mono recording copied to every channel?): "
                       "there are no directions to find, so direction finding stands aside")
            return
        dead = [c for c in sorted(h.report.dead) if ("dead", c) not in self._warned]
        if dead:
            for c in dead:
                self._warned.add(("dead", c))
            which = f"mic {dead[0]} is" if len(dead) == 1 else f"mics {', '.join(map(str, dead))} are"
            self._warn(("dead-group", int(t * 1000)), f"{which} dead (silent) from {t:.2f} s; localisation uses the other {left} mic(s)"
                       + (" (fewer than 3: directions become ambiguous)" if left < 3 else ""))
        for c, of in sorted(h.report.copies.items()):
            self._warn(("copy", c), f"mic {c} carries the same signal as mic {of} from {t:.2f} s (a wiring or driver fault?); "
                       f"localisation uses the other {left} mic(s) while it does")
        clipped = [c for c in sorted(h.report.clipped) if ("clip", c) not in self._warned]
        if clipped:
            for c in clipped:
                self._warned.add(("clip", c))
            which = f"mic {clipped[0]} clips" if len(clipped) == 1 else f"mics {', '.join(map(str, clipped))} clip"
            self._warn(("clip-group", int(t * 1000)), f"{which} on its own from {t:.2f} s (overdriven or faulty); localisation leaves it out "
                       "while it clips")

    def _note_clipping(self, t: float) -> None:
        h = self._health
        if h is not None and float(np.median(h.clip)) > self.params.clip_fraction:
            self._warn(("clip-all", 0), f"the recording clips on all channels from {t:.2f} s (input gain too high); directions stay usable, "
                       "speech recognition may suffer")
