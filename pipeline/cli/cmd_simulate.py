"""``meetflow simulate``: a simulated meeting recorded by a microphone array, with its references.

The simulator is library code in ``nodes/sim`` (imported in the handler, so ``meetflow --help``
stays instant and the engine does not depend on pyroomacoustics).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ExitCode, InputError, OutputError, UsageError

#: Place of this command in `meetflow --help`.
ORDER = 40

EPILOG = """\
examples:
  meetflow simulate --out sim/ --seed 7 --talkers 4 --walking 1 --duration 90
  meetflow simulate --out sim/ --rt60 0.3:0.6 --snr 15:20 --array respeaker6
  meetflow simulate --out sim/ --clips my_clips/ --talkers 3     # my_clips/<talker>/*.wav (+ .txt transcripts)
  meetflow simulate --out again/ --scenario sim/scenario.json     # the same recording, bit for bit
then:
  meetflow run graphs/meeting.json --input sim/meeting.wav --out out/
  meetflow eval doa --truth sim/truth_azimuth.jsonl --tracks out/tracks.jsonl --plot out/doa.png
"""


def _range(text: str) -> float | tuple[float, float]:
    """'0.4' -> 0.4; '0.3:0.6' -> (0.3, 0.6) (a range to draw from)."""
    try:
        if ":" in text:
            a, b = (float(v) for v in text.split(":", 1))
            if b < a:
                raise ValueError
            return (a, b)
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or a range LOW:HIGH, got {text!r}") from None


def _pair(text: str) -> tuple[float, float]:
    v = _range(text)
    return v if isinstance(v, tuple) else (v, v)


def _room(text: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(v) for v in text.lower().replace("*", "x").split("x"))
    except ValueError:
        parts = ()
    if len(parts) != 3 or min(parts) <= 0:
        raise argparse.ArgumentTypeError(f"expected LENGTHxWIDTHxHEIGHT in metres (e.g. 6x5x3), got {text!r}")
    return parts  # type: ignore[return-value]


def _snr(text: str) -> float | tuple[float, float] | None:
    return None if text.lower() in ("none", "off", "inf") else _range(text)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="simulate an array recording of a meeting", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Simulate a meeting recorded by a microphone array in a reverberant room (pyroomacoustics): talkers "
                       "seated or walking, turn taking with overlap and pauses, background noise. Writes the multichannel WAV, "
                       "reference.rttm, reference.seglst.json, truth_azimuth.jsonl and scenario.json (which reproduces it).")
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="folder to write into")
    p.add_argument("--seed", type=int, default=0, help="random seed: the same options and seed give the same meeting (default 0)")
    p.add_argument("--scenario", metavar="FILE", help="render this scenario.json again instead of drawing a new one (other options ignored)")
    g = p.add_argument_group("meeting")
    g.add_argument("--talkers", type=int, default=4, help="number of talkers (default 4)")
    g.add_argument("--walking", type=int, default=0, help="how many of them walk around (default 0)")
    g.add_argument("--duration", type=float, default=60.0, metavar="S", help="length in seconds (default 60)")
    g.add_argument("--overlap", type=float, default=0.1, metavar="P", help="share of turns that overlap the previous one (default 0.1)")
    g.add_argument("--overlap-s", type=_pair, default=(0.4, 1.5), metavar="A:B", help="how far an overlapping turn reaches back, s (default 0.4:1.5)")
    g.add_argument("--pause", type=_pair, default=(0.3, 1.5), metavar="A:B", help="silence between other turns, s (default 0.3:1.5)")
    g.add_argument("--voices", metavar="V1,V2,...", help="espeak-ng voices, one per talker (default: distinct clear voices)")
    g.add_argument("--clips", metavar="DIR", help="use the user's clips instead of synthesis: DIR/<talker>/*.wav with .txt or .json transcripts")
    r = p.add_argument_group("room and array")
    r.add_argument("--array", default="circular7", help="array preset or geometry JSON file (default circular7)")
    r.add_argument("--rt60", type=_range, default=(0.3, 0.6), metavar="S|A:B", help="reverberation time, or a range to draw from (default 0.3:0.6)")
    r.add_argument("--snr", type=_snr, default=(15.0, 20.0), metavar="DB|A:B|none", help="speech-to-noise ratio (default 15:20)")
    r.add_argument("--noise", choices=["diffuse", "white"], default="diffuse", help="background noise: diffuse room noise (default) or white sensor noise")
    r.add_argument("--room", type=_room, metavar="LxWxH", help="room size in metres (default: drawn, 5-8 x 4-6.5 x 2.7-3.2)")
    o = p.add_argument_group("output")
    o.add_argument("--name", default="meeting", help="recording name: NAME.wav and the session id in the references (default meeting)")
    o.add_argument("--rate", type=int, default=16000, help="sample rate (default 16000)")
    o.add_argument("--float", action="store_true", help="write 32-bit float WAV instead of 16-bit")
    p.set_defaults(func=run)


def _config(args: argparse.Namespace) -> Any:
    from pydantic import ValidationError

    from nodes.sim.scenario import MeetingConfig

    try:
        return MeetingConfig(
            talkers=args.talkers, walking=args.walking, duration_s=args.duration, rt60=args.rt60, snr_db=args.snr, noise=args.noise,
            array=args.array, room=args.room, overlap=args.overlap, overlap_s=args.overlap_s, pause_s=args.pause,
            voices=[v.strip() for v in args.voices.split(",")] if args.voices else None, clips=args.clips, rate=args.rate, name=args.name)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}" for e in exc.errors())
        raise UsageError(f"simulate: {problems}") from None


def _load_scenario(path: str) -> Any:
    from pydantic import ValidationError

    from nodes.sim.scenario import Scenario

    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    try:
        return Scenario.model_validate_json(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: cannot read ({exc})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "/".join(map(str, first["loc"]))
        raise InputError(f"{p}: not a meetflow scenario ({where}: {first['msg']}; {exc.error_count()} problem(s))") from None


def run(args: argparse.Namespace) -> int:
    from nodes.array.geometry import GeometryError
    from nodes.sim.meeting import render, write_outputs
    from nodes.sim.room import RoomError
    from nodes.sim.scenario import generate
    from nodes.sim.speech import SpeechBank
    from nodes.sim.tts import EspeakMissing

    start = time.perf_counter()
    try:
        if args.scenario:
            scenario = _load_scenario(args.scenario)
        else:
            config = _config(args)
            scenario = generate(config, args.seed, SpeechBank(config.rate))
        meeting = render(scenario)
    except EspeakMissing as exc:
        raise ConfigError(f"simulate: {exc}") from None
    except (GeometryError, RoomError) as exc:
        raise UsageError(f"simulate: {exc}") from None
    except FileNotFoundError as exc:
        raise InputError(str(exc)) from None
    except ValueError as exc:  # clip folders, crowded rooms: the message names the problem
        raise InputError(f"simulate: {exc}") from None
    try:
        paths = write_outputs(meeting, args.out, "FLOAT" if args.float else "PCM_16")
    except OSError as exc:
        raise OutputError(f"cannot write to {args.out}: {exc.strerror or exc}") from None
    sc = meeting.scenario
    took = time.perf_counter() - start
    print(f"simulated {meeting.duration:.1f} s, {len(sc.talkers)} talkers, {len(sc.utterances)} turns; room {sc.room.size[0]:g}x"
          f"{sc.room.size[1]:g}x{sc.room.size[2]:g} m, RT60 {sc.room.rt60:g} s, SNR "
          f"{'none' if sc.noise.snr_db is None else f'{sc.noise.snr_db:g} dB'}, array {sc.array.geometry} ({len(sc.array.mics)} mics); "
          f"{took:.1f} s", file=sys.stderr)
    for t in sc.talkers:
        how = "walking" if t.walking else "seated"
        print(f"  {t.id}: {how}, azimuth {sc.azimuth(t.id, 0.0):+.0f} deg at the start, voice {t.voice or 'clips'}", file=sys.stderr)
    for role in ("audio", "rttm", "seglst", "truth", "scenario"):
        print(paths[role])
    return ExitCode.OK
