"""Speak one text with libespeak-ng and report its audio and phoneme/word events (a worker process).

Run as ``python -S espeak_worker.py VOICE WPM`` with the text on stdin; prints one JSON
object: ``{"rate", "audio" (base64 int16 mono), "events": [[type, text_pos, length,
audio_ms, sample, name], ...]}``. Standard library only, one synthesis per process: espeak-ng
keeps state between syntheses in a process (its output drifts slightly), and re-initialising
it in-process can hang, so a fresh process per utterance is what makes the output exact and
repeatable (see ../shared/RESEARCH.md). Used by ``word_times.py``.
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import json
import sys

AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_PHONEME_EVENTS = 0x0001
INITIALIZE_DONT_EXIT = 0x8000
POS_CHARACTER = 1
CHARS_UTF8 = 1
ENDPAUSE = 0x1000
RATE = 1


class Event(ctypes.Structure):
    class _Id(ctypes.Union):
        _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]

    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int), ("user_data", ctypes.c_void_p), ("id", _Id)]


CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(Event))


def main() -> int:
    voice, wpm = sys.argv[1], int(sys.argv[2])
    text = sys.stdin.read()
    name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
    lib = ctypes.CDLL(name)
    lib.espeak_Initialize.restype = ctypes.c_int
    rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, None, INITIALIZE_PHONEME_EVENTS | INITIALIZE_DONT_EXIT)
    if rate <= 0:
        print(json.dumps({"error": "libespeak-ng failed to initialise"}))
        return 1
    audio = bytearray()
    events: list[list] = []

    def collect(wav, n, ev):  # noqa: ANN001 - ctypes callback
        if n > 0 and wav:
            audio.extend(ctypes.string_at(wav, n * 2))
        i = 0
        while ev[i].type != 0:  # espeakEVENT_LIST_TERMINATED
            e = ev[i]
            label = e.id.string.decode("utf-8", "replace") if e.type == 7 else ""
            events.append([e.type, e.text_position, e.length, e.audio_position, e.sample, label])
            i += 1
        return 0

    callback = CALLBACK(collect)
    lib.espeak_SetSynthCallback(callback)
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
        print(json.dumps({"error": f"unknown espeak-ng voice {voice!r}"}))
        return 1
    lib.espeak_SetParameter(RATE, wpm, 0)
    data = text.encode("utf-8") + b"\0"
    lib.espeak_Synth(data, len(data), 0, POS_CHARACTER, 0, CHARS_UTF8 | ENDPAUSE, None, None)
    lib.espeak_Synchronize()
    sys.stdout.write(json.dumps({"rate": rate, "audio": base64.b64encode(bytes(audio)).decode("ascii"), "events": events}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
