"""The beam node: the array's mics and its directions in, one channel steered at the talker heard out."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline import AudioBlock, ConfigError, DirectionEstimate, In, Node, Out, Packet, StreamInfo

from .beam import BeamKind, SteeredBeam
from .geometry import ArrayGeometry
from .mics import GEOMETRY_KEY, OFF_KEY


class BeamParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: BeamKind = Field("superdirective", description="superdirective (MVDR for diffuse noise: narrowest beam) or delay_and_sum (most robust).")
    loading: float = Field(0.03, gt=0, le=100, description="Superdirective: diagonal loading of the diffuse coherence; larger trades "
                                                           "directivity at low frequencies for less mic noise (-> delay-and-sum).")


class Beam(Node):
    """Steer a beam at the strongest direction ``array.doa`` reports, for the speaker branch.

    Speaker embeddings of the beam separate talkers better than those of the channel mean
    (see ``beam.py``): a talker keeps one voice wherever they stand, and less of the room and
    of other talkers gets in. Each block of audio is steered at the strongest peak of the
    latest direction block (multi-input order delivers the block that covers the audio first);
    a block without peaks keeps the previous direction, and before the first one the beam is
    the channel mean. Output lags input by 24 ms of filtering.

    Mono input (``array.mics`` stood aside): the ``fallback`` audio passes through unchanged,
    so one graph serves arrays and single mics.
    """

    type_name = "array.beam"
    Params = BeamParams
    inputs = {
        "directions": In(DirectionEstimate, "Direction blocks from array.doa.", required=False),
        "audio": In(AudioBlock, "The array's mic channels (array.mics)."),
        "fallback": In(AudioBlock, "Mono audio to pass through when the input is not an array (e.g. audio.mixdown).", required=False),
    }
    outputs = {"audio": Out(AudioBlock, "One channel, steered at the talker.", lag=0.05)}

    params: BeamParams

    def __init__(self, node_id: str, params: BaseModel, context: Any) -> None:
        super().__init__(node_id, params, context)
        self.geometry: ArrayGeometry | None = None
        self._beam: SteeredBeam | None = None
        self._azimuth: float | None = None
        self._start: int | None = None
        self._rate = 0

    def configure(self, inputs: Mapping[str, StreamInfo]) -> Mapping[str, StreamInfo]:
        info = inputs.get("audio", StreamInfo())
        if info.extra.get(OFF_KEY):
            return {"audio": inputs.get("fallback", info.with_(channels=1))}
        self.geometry = info.extra.get(GEOMETRY_KEY)
        if self.geometry is None:
            raise ConfigError("no array geometry: connect 'audio' to an array.mics node", "audio")
        return {"audio": info.with_(channels=1)}

    def open(self) -> None:
        self._beam, self._azimuth, self._start = None, None, None

    def process(self, port: str, packet: Packet) -> None:
        if self.geometry is None:
            if port == "fallback":
                self.emit("audio", packet)
            return
        if port == "directions":
            d: DirectionEstimate = packet.payload
            if len(d.azimuth_deg):
                self._azimuth = float(d.azimuth_deg[0])
            return
        if port != "audio":
            return
        block: AudioBlock = packet.payload
        if self._beam is None:
            self._beam = SteeredBeam(np.asarray(self.geometry.xyz), block.rate, self.params.kind, self.params.loading)
            self._start, self._rate = block.start, block.rate
        self._send(self._beam.process(block.samples, self._azimuth))

    def _send(self, y: np.ndarray) -> None:
        if not len(y) or self._beam is None or self._start is None:
            return
        start = self._start + self._beam.produced - len(y)
        self.emit("audio", Packet(start / self._rate, (start + len(y)) / self._rate, AudioBlock(y[:, None], self._rate, start)))

    def flush(self) -> None:
        if self._beam is not None:
            self._send(self._beam.flush(self._azimuth))
