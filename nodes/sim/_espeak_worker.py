"""One espeak-ng synthesis with phoneme events, run in its own process (see timed_tts.py).

Standalone on purpose: it imports nothing from meetflow (nor numpy), so a fresh interpreter
starts in a few tens of milliseconds. Reads a JSON request on stdin; writes one JSON line
(sample rate, events) followed by the raw little-endian int16 samples on stdout.

Why a process per synthesis: libespeak-ng keeps state across calls, so a second synthesis
in the same process comes out slightly different from the first, and terminating and
re-initialising the library hangs. A fresh process gives bit-identical output every time.
"""

import ctypes
import json
import sys
from ctypes import CFUNCTYPE, POINTER, Structure, Union, c_char, c_char_p, c_int, c_short, c_uint, c_void_p

# speak_lib.h (API revision 12)
AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_PHONEME_EVENTS = 0x0001
POS_CHARACTER = 1
CHARS_UTF8 = 1
EVENT_LIST_TERMINATED, EVENT_WORD, EVENT_PHONEME = 0, 1, 7
PARAM_RATE, PARAM_PITCH, PARAM_WORDGAP = 1, 3, 7


class _EventId(Union):
    _fields_ = [("number", c_int), ("name", c_char_p), ("string", c_char * 8)]


class _Event(Structure):
    _fields_ = [
        ("type", c_int),
        ("unique_identifier", c_uint),
        ("text_position", c_int),
        ("length", c_int),
        ("audio_position", c_int),
        ("sample", c_int),
        ("user_data", c_void_p),
        ("id", _EventId),
    ]


def main() -> int:
    req = json.loads(sys.stdin.read())
    try:
        lib = ctypes.CDLL("libespeak-ng.so.1")
    except OSError as exc:
        sys.stderr.write(f"libespeak-ng is not installed (Debian: apt-get install libespeak-ng1): {exc}\n")
        return 3
    callback_type = CFUNCTYPE(c_int, POINTER(c_short), c_int, POINTER(_Event))
    chunks = []
    events = []

    def on_audio(wav, n, ev):  # type: ignore[no-untyped-def]
        if wav and n > 0:
            chunks.append(ctypes.string_at(wav, n * 2))
        i = 0
        while ev[i].type != EVENT_LIST_TERMINATED:
            e = ev[i]
            if e.type == EVENT_WORD:
                events.append({"kind": "word", "pos": e.text_position, "len": e.length, "sample": e.sample})
            elif e.type == EVENT_PHONEME:
                events.append({"kind": "phoneme", "name": e.id.string.decode("ascii", "replace"), "sample": e.sample})
            i += 1
        return 0

    keep = callback_type(on_audio)
    rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, None, INITIALIZE_PHONEME_EVENTS)
    if rate <= 0:
        sys.stderr.write("espeak-ng failed to initialise (is espeak-ng-data installed?)\n")
        return 3
    lib.espeak_SetSynthCallback(keep)
    if lib.espeak_SetVoiceByName(req["voice"].encode()) != 0:
        sys.stderr.write(f"espeak-ng has no voice '{req['voice']}'\n")
        return 2
    lib.espeak_SetParameter(PARAM_RATE, int(req.get("wpm", 160)), 0)
    if req.get("pitch") is not None:
        lib.espeak_SetParameter(PARAM_PITCH, int(req["pitch"]), 0)
    if req.get("word_gap_ms"):
        lib.espeak_SetParameter(PARAM_WORDGAP, max(1, int(req["word_gap_ms"]) // 10), 0)
    text = req["text"].encode("utf-8")
    lib.espeak_Synth(text, len(text) + 1, 0, POS_CHARACTER, 0, CHARS_UTF8, None, None)
    lib.espeak_Synchronize()
    out = sys.stdout.buffer
    out.write((json.dumps({"rate": rate, "events": events}) + "\n").encode())
    out.write(b"".join(chunks))
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
