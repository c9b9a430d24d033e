"""``meetflow devices``: the audio input devices a live graph can capture from."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import ExitCode

#: Place of this command in `meetflow --help`.
ORDER = 15


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "devices", help="list audio input devices",
        description="List the audio input devices PortAudio sees, as --input takes them: mic (the default, marked *), mic:N or mic:NAME.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # The device layer belongs to the node library (it needs sounddevice/PortAudio).
    from nodes.io import devices

    inputs = devices.list_inputs()
    pulse = devices.pulse_sources() if any(devices.is_pulse_device(d) for d in inputs) else []
    if args.json:
        doc: dict[str, Any] = {"inputs": [d.to_json() for d in inputs], "pulse_sources": pulse}
        print(json.dumps(doc, indent=2))
        return ExitCode.OK
    if not inputs:
        print(f"meetflow: {devices.no_inputs_message(listing=True)}")
        return ExitCode.OK
    width = max(len(d.name) for d in inputs)
    print(f"  {'#':>3}  {'name':<{width}}  {'host API':<10} {'channels':>8}  {'rate':>7}")
    for d in inputs:
        mark = "*" if d.is_default else " "
        print(f"{mark} {d.index:>3}  {d.name:<{width}}  {d.host_api:<10} {d.max_input_channels:>8}  {d.default_samplerate:>7.0f}")
    print("\n--input mic (the default, *), mic:N or mic:NAME")
    if pulse:
        print("\nPulseAudio/PipeWire sources, recorded through the 'pulse' and 'default' devices (pick one with PULSE_SOURCE=NAME):")
        for s in pulse:
            mark = "*" if s["default"] else " "
            print(f"{mark} {s['name']}  ({s['channels']} ch, {s['rate']} Hz, {s['format']})")
    return ExitCode.OK
