"""Audio input devices as PortAudio (through sounddevice) sees them: listing and choosing one.

Kept apart from the capture node so that ``meetflow devices`` and graph validation can
list and check devices without opening a stream. ``sounddevice`` is imported lazily: it
loads the PortAudio library, which enumerates devices once, when it is first imported.
A sound server started later (PulseAudio, JACK) is therefore invisible to a process that
imported sounddevice before it started; ``refresh()`` re-runs the enumeration.

How users name an input (``--input``):

* ``mic``: the system's default input device;
* ``mic:3``: device number 3 of ``meetflow devices``;
* ``mic:NAME``: the input device whose name is NAME (case-insensitive), else the one
  whose name contains it; ambiguous or unknown names are errors that list the inputs;
* anything else is a recording's path (write ``./mic`` for a file named ``mic``).

On Linux, PortAudio reaches PulseAudio and PipeWire only through ALSA's ``pulse`` and
``default`` devices; which PulseAudio source they record is the server's default source,
or the one named by the ``PULSE_SOURCE`` environment variable.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from typing import Any

from pipeline import InputError

MIC_PREFIX = "mic"


@dataclass(frozen=True)
class DeviceInfo:
    """One input device."""

    index: int
    name: str
    host_api: str
    max_input_channels: int
    default_samplerate: float
    is_default: bool = False

    def label(self) -> str:
        return f"{self.index} '{self.name}' ({self.host_api}, {self.max_input_channels} ch, {self.default_samplerate:.0f} Hz)"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def is_device_spec(text: str | None) -> bool:
    """True when an ``--input`` value names a device (``mic`` or ``mic:...``), not a file."""
    return isinstance(text, str) and (text == MIC_PREFIX or text.startswith(MIC_PREFIX + ":"))


def parse_device_spec(text: str) -> str | int | None:
    """``mic`` -> None (default device), ``mic:3`` -> 3, ``mic:NAME`` -> 'NAME'."""
    if text == MIC_PREFIX:
        return None
    rest = text[len(MIC_PREFIX) + 1 :].strip()
    if not rest:
        return None
    if rest.isdigit():
        return int(rest)
    return rest


def sounddevice() -> Any:
    """Import sounddevice, turning a missing PortAudio into an input error with a remedy."""
    try:
        import sounddevice as sd
    except ImportError:
        raise InputError("live capture needs the Python package 'sounddevice' (pip install 'meetflow[live]')") from None
    except OSError as exc:  # sounddevice raises OSError when libportaudio is missing
        raise InputError(f"live capture needs the PortAudio library ({exc}); on Debian/Ubuntu: apt-get install libportaudio2") from None
    return sd


def refresh() -> None:
    """Enumerate devices again (PortAudio only looks once, at initialisation).

    Safe only while this process has no stream open; the capture node calls it when the
    device it is asked for is not in the list, in case a sound server started late.
    """
    sd = sounddevice()
    try:
        sd._terminate()
        sd._initialize()
    except Exception:  # pragma: no cover - private API of sounddevice; best effort
        pass


def list_inputs() -> list[DeviceInfo]:
    """Every device with at least one input channel."""
    sd = sounddevice()
    try:
        devices = sd.query_devices()
        apis = sd.query_hostapis()
        default_in = sd.default.device[0]
    except Exception as exc:
        raise InputError(f"cannot list audio devices: {exc}") from None
    out = []
    for i, d in enumerate(devices):
        if d["max_input_channels"] <= 0:
            continue
        api = apis[d["hostapi"]]["name"] if 0 <= d["hostapi"] < len(apis) else "?"
        out.append(DeviceInfo(i, d["name"], api, int(d["max_input_channels"]), float(d["default_samplerate"]), i == default_in))
    return out


def _listing(inputs: list[DeviceInfo]) -> str:
    return "; ".join(d.label() for d in inputs) or "none"


def no_inputs_message(listing: bool = False) -> str:
    """Why no device was found (``listing``: said by ``meetflow devices`` itself, which should not point to itself)."""
    hint = "is a sound server running (PulseAudio, PipeWire, JACK) and is it reachable from this process?"
    if os.environ.get("PULSE_SERVER"):
        hint = f"PULSE_SERVER={os.environ['PULSE_SERVER']}: is that server running?"
    see = "; a recording works without one (--input FILE)" if listing else "; `meetflow devices` lists what PortAudio sees"
    return f"no audio input devices found ({hint}){see}"


def resolve(spec: str | int | None, *, retry: bool = True) -> DeviceInfo:
    """The input device that ``spec`` names (see the module docstring)."""
    inputs = list_inputs()
    if not inputs:
        if retry:
            refresh()
            return resolve(spec, retry=False)
        raise InputError(no_inputs_message())
    if spec is None:
        for d in inputs:
            if d.is_default:
                return d
        return inputs[0]
    if isinstance(spec, int):
        for d in inputs:
            if d.index == spec:
                return d
        if retry:
            refresh()
            return resolve(spec, retry=False)
        raise InputError(f"mic:{spec}: no input device number {spec} (inputs: {_listing(inputs)})")
    want = spec.casefold()
    exact = [d for d in inputs if d.name.casefold() == want]
    if exact:
        return exact[0]
    partial = [d for d in inputs if want in d.name.casefold()]
    if len(partial) == 1:
        return partial[0]
    if len(partial) > 1:
        raise InputError(f"mic:{spec}: several input devices match: {_listing(partial)}; give the number (mic:N) or the full name")
    if retry:
        refresh()
        return resolve(spec, retry=False)
    raise InputError(f"mic:{spec}: no input device is called '{spec}' (inputs: {_listing(inputs)})")


# -- PulseAudio (through ALSA's pulse plugin) ---------------------------------------------------

_SPEC = re.compile(r"(\S+)\s+(\d+)ch\s+(\d+)Hz")


def pulse_sources() -> list[dict[str, Any]]:
    """PulseAudio sources (name, channels, rate, default), or [] when there is no server."""
    pactl = shutil.which("pactl")
    if pactl is None:
        return []
    try:
        short = subprocess.run([pactl, "list", "short", "sources"], capture_output=True, text=True, timeout=3)
        default = subprocess.run([pactl, "get-default-source"], capture_output=True, text=True, timeout=3)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if short.returncode != 0:
        return []
    chosen = os.environ.get("PULSE_SOURCE") or default.stdout.strip()
    out = []
    for line in short.stdout.splitlines():
        cols = line.split("\t")
        if len(cols) < 4:
            continue
        m = _SPEC.search(cols[3])
        if not m:
            continue
        out.append({"name": cols[1], "format": m.group(1), "channels": int(m.group(2)), "rate": int(m.group(3)), "default": cols[1] == chosen})
    return out


def is_pulse_device(device: DeviceInfo) -> bool:
    """ALSA's ``pulse``/``default`` devices, which PortAudio reports with 32+ channels."""
    return device.host_api == "ALSA" and device.name in ("pulse", "default", "pipewire")


def natural_channels(device: DeviceInfo) -> int:
    """How many channels to open when the graph does not say.

    A hardware device opens with all its channels (an 8-channel USB array delivers 8).
    ALSA's ``pulse``/``default`` devices claim 32 or more channels whatever is behind them,
    and opening 32 would have PulseAudio upmix; ask the server for the channel count of
    the source they record instead, and fall back to stereo.
    """
    if is_pulse_device(device):
        for src in pulse_sources():
            if src["default"]:
                return max(1, min(int(src["channels"]), device.max_input_channels))
        return min(2, device.max_input_channels)
    return device.max_input_channels
