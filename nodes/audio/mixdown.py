"""Reduce multichannel audio to one channel for nodes that want mono (VAD, recognisers)."""

from __future__ import annotations

from typing import Literal, Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline import AudioBlock, In, InputError, Node, Out, Packet, StreamInfo


class MixdownParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["mean", "channel"] = Field("mean", description="'mean' averages the channels; 'channel' picks one.")
    channel: int = Field(0, ge=0, description="The channel kept when mode is 'channel' (0-based).")


class Mixdown(Node):
    """Average the channels of a block (or pick one) into mono audio.

    Averaging the microphones of a small array is a crude delay-and-sum beamformer steered
    broadside: speech adds up coherently at low frequencies, uncorrelated noise does not.
    """

    type_name = "audio.mixdown"
    Params = MixdownParams
    inputs = {"audio": In(AudioBlock, "Audio with any number of channels.")}
    outputs = {"audio": Out(AudioBlock, "Mono audio, shape (frames, 1).", lag=0.0)}

    params: MixdownParams

    def configure(self, inputs: Mapping[str, StreamInfo]) -> Mapping[str, StreamInfo]:
        info = inputs.get("audio", StreamInfo())
        if self.params.mode == "channel" and info.channels is not None and self.params.channel >= info.channels:
            raise InputError(f"node '{self.id}': channel {self.params.channel} requested but the input has {info.channels} channel(s)")
        return {"audio": info.with_(channels=1)}

    def process(self, port: str, packet: Packet) -> None:
        block: AudioBlock = packet.payload
        x = block.samples
        if x.shape[1] == 1:
            self.emit("audio", packet)
            return
        if self.params.mode == "mean":
            mono = x.mean(axis=1, keepdims=True, dtype=np.float32)
        else:
            mono = np.ascontiguousarray(x[:, self.params.channel : self.params.channel + 1])
        self.emit("audio", Packet(packet.t0, packet.t1, AudioBlock(mono, block.rate, block.start)))
