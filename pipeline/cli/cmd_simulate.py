"""``meetflow simulate``: a simulated meeting recorded by a microphone array, with its references.

The simulator is library code in ``nodes/sim`` (imported in the handler, so ``meetflow --help``
stays instant and the engine does not depend on pyroomacoustics).
"""

from __future__ import annotations

import argparse
import math
import os
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
  meetflow simulate --out sim/ --duration 720 --away spk4:80:680  # spk4 leaves after 80 s, is back for the last minute
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


def _away(text: str) -> tuple[str, float, float]:
    """TALKER:FROM:TO as text; which talkers and times are possible is MeetingConfig's to say, as for every option."""
    who, _, span = text.partition(":")
    try:
        a, b = (float(v) for v in span.split(":"))
    except ValueError:
        who = ""
    if not who:
        raise argparse.ArgumentTypeError(f"expected TALKER:FROM:TO in seconds (e.g. spk2:60:400), got {text!r}")
    return who, a, b


def _room(text: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(v) for v in text.lower().replace("*", "x").split("x"))
    except ValueError:
        parts = ()
    if len(parts) != 3 or min(parts) <= 0 or not all(math.isfinite(v) for v in parts):
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
    g.add_argument("--away", type=_away, action="append", default=[], metavar="TALKER:FROM:TO",
                   help="TALKER (spk1, spk2, ...) is out of the room from FROM to TO s and starts no turn then: a long silence "
                   "and a return (repeatable)")
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
    o.add_argument("--rate", type=int, default=16000, help="sample rate, 8000-192000 (default 16000)")
    o.add_argument("--float", action="store_true", help="write 32-bit float WAV instead of 16-bit")
    o.add_argument("--overwrite", action="store_true", help="replace the files of an earlier simulation in --out (refused without it)")
    p.set_defaults(func=run)


def _config(args: argparse.Namespace) -> Any:
    from pydantic import ValidationError

    from nodes.sim.scenario import MeetingConfig

    try:
        return MeetingConfig(
            talkers=args.talkers, walking=args.walking, duration_s=args.duration, rt60=args.rt60, snr_db=args.snr, noise=args.noise,
            array=args.array, room=args.room, overlap=args.overlap, overlap_s=args.overlap_s, pause_s=args.pause,
            voices=[v.strip() for v in args.voices.split(",")] if args.voices else None, clips=args.clips, rate=args.rate, name=args.name,
            away=args.away)
    except ValidationError as exc:
        raise UsageError(f"simulate: {_options_problems(exc)}") from None


#: MeetingConfig fields by the option that sets them.
_OPTION_OF = {"talkers": "--talkers", "walking": "--walking", "duration_s": "--duration", "rt60": "--rt60", "snr_db": "--snr",
              "noise": "--noise", "array": "--array", "room": "--room", "overlap": "--overlap", "overlap_s": "--overlap-s",
              "pause_s": "--pause", "voices": "--voices", "clips": "--clips", "rate": "--rate", "name": "--name", "away": "--away"}


def _options_problems(exc: Any) -> str:
    """A pydantic error about MeetingConfig as one line naming the options."""
    parts = []
    for e in exc.errors():
        loc = e["loc"]
        msg = e["msg"].removeprefix("Value error, ")
        parts.append(f"{_OPTION_OF.get(str(loc[0]), '.'.join(map(str, loc)))}: {msg}" if loc else msg)
    return "; ".join(parts)


def _check_options(args: argparse.Namespace) -> None:
    """Options that are wrong whatever else is given, before any work starts (exit 64)."""
    from nodes.sim.scenario import MAX_RATE, MAX_RT60, MIN_RATE, MIN_RT60, name_problem

    if not MIN_RATE <= args.rate <= MAX_RATE:
        raise UsageError(f"simulate: --rate: expected a sample rate from {MIN_RATE} to {MAX_RATE} Hz, got {args.rate}")
    if not math.isfinite(args.duration) or args.duration <= 2:
        raise UsageError(f"simulate: --duration: expected more than 2 seconds, got {args.duration:g}")
    for v in args.rt60 if isinstance(args.rt60, tuple) else (args.rt60,):
        if not (math.isfinite(v) and MIN_RT60 < v <= MAX_RT60):
            raise UsageError(f"simulate: --rt60: expected a reverberation time above {MIN_RT60:g} s and at most {MAX_RT60:g} s, got {v:g}")
    if args.snr is not None and not all(math.isfinite(v) for v in (args.snr if isinstance(args.snr, tuple) else (args.snr,))):
        raise UsageError("simulate: --snr: expected a number of dB, a range LOW:HIGH, or none")
    for opt, pair in (("--pause", args.pause), ("--overlap-s", args.overlap_s)):
        if not all(math.isfinite(v) and v >= 0 for v in pair):
            raise UsageError(f"simulate: {opt}: expected seconds not below zero, got {pair[0]:g}:{pair[1]:g}")
    if not math.isfinite(args.overlap) or not 0 <= args.overlap <= 1:
        raise UsageError(f"simulate: --overlap: expected a share from 0 to 1, got {args.overlap:g}")
    if why := name_problem(args.name):
        raise UsageError(f"simulate: --name: {why}")
    if args.voices is not None:
        voices = [v.strip() for v in args.voices.split(",")]
        if not all(voices):
            raise UsageError(f"simulate: --voices: an empty voice name in {args.voices!r} (give V1,V2,... one per talker)")


def _check_voices(voices: list[str], bad: type[Exception], where: str) -> None:
    """Every voice espeak-ng knows, before any synthesis (``bad``: the error class to raise)."""
    from nodes.sim.tts import EspeakMissing, UnknownVoice, check_voices

    try:
        check_voices(voices)
    except UnknownVoice as exc:
        raise bad(f"{where}: {exc}") from None
    except EspeakMissing as exc:
        raise ConfigError(f"simulate: {exc}") from None


def _check_out(out: Path, name: str, overwrite: bool) -> None:
    """--out can take the files, and holds none of them unless --overwrite (exit 5): before any work starts."""
    from nodes.sim.meeting import output_paths

    from .run_outputs import nearest_existing, refuse_to_replace

    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out}: is a file, not a folder")
    existing = nearest_existing(out)
    if not existing.is_dir():
        raise OutputError(f"--out {out}: cannot create the folder, {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "the folder is not writable" if existing == out else f"cannot create the folder, {existing}/ is not writable"
        raise OutputError(f"--out {out}: {what}")
    targets = list(output_paths(out, name).values())
    for t in targets:
        if t.is_dir():
            raise OutputError(f"{t} is a folder; the simulation writes a file there: give another --out or move it away")
    if overwrite:
        return
    found = [t for t in targets if t.exists() or t.is_symlink()]
    if found:
        refuse_to_replace(found, out, "files this simulation would replace", most=len(found))


def _silent_talkers(scenario: Any, config: Any, bank: Any) -> str | None:
    """A warning when some talkers never speak (--duration too short for --talkers), or None."""
    from nodes.sim.speech import Clip

    spoke = {u.speaker for u in scenario.utterances}
    silent = [t.id for t in scenario.talkers if t.id not in spoke]
    if not silent:
        return None
    lengths = []
    for u in scenario.utterances:
        voice = scenario.talker(u.speaker).voice
        utt = bank.clip(Clip(Path(u.clip), u.speaker, u.text)) if u.clip else bank.espeak(u.text, voice)  # cached: no new work
        lengths.append(utt.duration)
    turn = sum(lengths) / len(lengths) if lengths else 5.0
    need = config.lead_s + len(scenario.talkers) * (turn + sum(config.pause_s) / 2) + 0.5
    need = int(math.ceil(need / 5.0) * 5)
    verb = "never speaks" if len(silent) == 1 else "never speak"
    return (f"--duration {config.duration_s:g} s is too short for {len(scenario.talkers)} talkers: {', '.join(silent)} {verb} "
            f"(a turn lasts about {turn:.0f} s here); give --duration {need} or more for everyone to speak, or fewer --talkers")


def _load_scenario(path: str) -> Any:
    from pydantic import ValidationError

    from nodes.sim.scenario import Scenario

    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    try:
        scenario = Scenario.model_validate_json(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: cannot read ({exc})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "/".join(map(str, first["loc"]))
        msg = first["msg"].removeprefix("Value error, ")
        raise InputError(f"{p}: not a meetflow scenario ({where}: {msg}; {exc.error_count()} problem(s))") from None
    problems = scenario.problems()
    if problems:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise InputError(f"{p}: {problems[0]}{more}")
    voiced = {u.speaker for u in scenario.utterances if not u.clip}
    _check_voices([t.voice for t in scenario.talkers if t.id in voiced and t.voice], InputError, str(p))
    return scenario


def run(args: argparse.Namespace) -> int:
    import soundfile as sf
    from pydantic import ValidationError

    from nodes.array.geometry import GeometryError
    from nodes.sim.meeting import render, write_outputs
    from nodes.sim.room import RoomError
    from nodes.sim.scenario import generate
    from nodes.sim.speech import SpeechBank
    from nodes.sim.tts import EspeakMissing, UnknownVoice

    start = time.perf_counter()
    out = Path(args.out)
    # Everything that can be checked is checked before the (slow) synthesis and rendering:
    # the command line (64), the scenario file (3), then the output folder (5).
    config = None
    if args.scenario:
        scenario = _load_scenario(args.scenario)
        name = scenario.name
        bad: type[Exception] = InputError  # a problem found later is in the file
        where = str(args.scenario)
    else:
        _check_options(args)
        config = _config(args)
        if config.voices and not config.clips:
            _check_voices(config.voices[: config.talkers], UsageError, "simulate: --voices")
        name = config.name
        bad, where = UsageError, "simulate"
    _check_out(out, name, getattr(args, "overwrite", False))
    try:
        if config is not None:
            bank = SpeechBank(config.rate)
            scenario = generate(config, args.seed, bank)
            if warning := _silent_talkers(scenario, config, bank):
                print(f"meetflow: warning: {warning}", file=sys.stderr, flush=True)
            if problems := scenario.problems():
                raise bad(f"{where}: {problems[0]}")
        meeting = render(scenario)
    except EspeakMissing as exc:
        raise ConfigError(f"simulate: {exc}") from None
    except (GeometryError, RoomError, UnknownVoice) as exc:
        raise bad(f"{where}: {exc}") from None
    except ValidationError as exc:
        raise bad(f"{where}: {_options_problems(exc)}") from None
    except FileNotFoundError as exc:
        raise InputError(str(exc)) from None
    except ValueError as exc:  # clip folders, crowded rooms: the message names the problem
        raise InputError(f"{where}: {exc}") from None
    try:
        paths = write_outputs(meeting, out, "FLOAT" if args.float else "PCM_16")
    except (OSError, sf.SoundFileError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        raise OutputError(f"cannot write to {out}: {why}") from None
    sc = meeting.scenario
    took = time.perf_counter() - start
    print(f"simulated {meeting.duration:.1f} s, {len(sc.talkers)} talkers, {len(sc.utterances)} turns; room {sc.room.size[0]:g}x"
          f"{sc.room.size[1]:g}x{sc.room.size[2]:g} m, RT60 {sc.room.rt60:g} s, SNR "
          f"{'none' if sc.noise.snr_db is None else f'{sc.noise.snr_db:g} dB'}, array {sc.array.geometry} ({len(sc.array.mics)} mics); "
          f"{took:.1f} s", file=sys.stderr)
    spoke = {u.speaker for u in sc.utterances}
    for t in sc.talkers:
        how = "walking" if t.walking else "seated"
        silent = "" if t.id in spoke else "; never speaks"
        print(f"  {t.id}: {how}, azimuth {sc.azimuth(t.id, 0.0):+.0f} deg at the start, voice {t.voice or 'clips'}{silent}", file=sys.stderr)
    if config is not None and meeting.duration > config.duration_s + 0.05:
        print(f"note: the recording lasts {meeting.duration:.1f} s, longer than --duration {config.duration_s:g} (a turn is never "
              "cut short, and 0.5 s of quiet follows the last)", file=sys.stderr)
    for role in ("audio", "rttm", "seglst", "truth", "scenario"):
        print(paths[role])
    return ExitCode.OK
