"""A private PulseAudio server with a virtual microphone array, for live tests and demos.

This machine has no sound card, and CI machines rarely do; yet live capture must be tested
against a real audio stack, not a mock of PortAudio. PulseAudio can provide one: a
``module-null-sink`` with N channels is a virtual device; what is played into it
(``paplay``) comes out of its monitor source, which PortAudio records through ALSA's
``pulse`` device exactly as it would record a USB microphone array.

The server is private: its own socket, runtime and state folders, no D-Bus, no autospawn,
so it neither needs nor disturbs a desktop's sound server. Clients reach it through the
environment in ``PulseServer.env`` (``PULSE_SERVER`` and friends); start it *before* the
client process imports sounddevice (PortAudio lists devices once, when it starts).

Traps this module takes care of (measured, see ../shared/RESEARCH.md):

* the ALSA pulse plugin records N channels with its own channel map (ALSA's order: FL FR
  RL RR FC LFE SL SR, padded with AUX); the sink gets the same map, or PulseAudio remixes
  and channels swap or go silent;
* ``norewinds=1``, else a new playback stream loses its first samples;
* ``paplay --no-remap`` plays file channel k into sink channel k, whatever their names.

Usable as a context manager::

    with PulseServer(channels=4) as server:
        subprocess.run(["meetflow", "devices"], env=server.env)
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

_ALSA_ORDER = ["front-left", "front-right", "rear-left", "rear-right", "front-center", "lfe", "side-left", "side-right"]
_ALSA_COUNTS = (1, 2, 4, 5, 6, 8)


class PulseUnavailable(RuntimeError):
    """PulseAudio is not installed, or would not start."""


def alsa_channel_map(channels: int) -> list[str]:
    """The channel map ALSA's pulse plugin uses for ``channels`` (PulseAudio's ALSA map,
    extended with aux channels for counts it does not define)."""
    if channels == 1:
        return ["mono"]
    base = max(c for c in _ALSA_COUNTS if c <= channels and c > 1) if channels >= 2 else 0
    names = _ALSA_ORDER[:base] if base != 1 else []
    return names + [f"aux{i}" for i in range(channels - len(names))]


def available() -> bool:
    """True when the PulseAudio daemon and its tools are installed."""
    return all(shutil.which(tool) for tool in ("pulseaudio", "pactl", "paplay"))


class PulseServer:
    """A private PulseAudio daemon whose default source is an N-channel virtual array."""

    def __init__(self, channels: int = 4, rate: int = 16000, folder: str | Path | None = None, sink: str = "array") -> None:
        self.channels = channels
        self.rate = rate
        self.sink = sink
        self._own_folder = folder is None
        self.folder = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="meetflow-pulse-"))
        self.socket = self.folder / "native"
        self.proc: subprocess.Popen[bytes] | None = None
        self._players: list[subprocess.Popen[bytes]] = []

    @property
    def source(self) -> str:
        return f"{self.sink}.monitor"

    @property
    def env(self) -> dict[str, str]:
        """The environment a client needs to reach this server (and only this one)."""
        env = dict(os.environ)
        run = str(self.folder / "run")
        env.update(
            PULSE_SERVER=f"unix:{self.socket}",
            PULSE_RUNTIME_PATH=run,
            XDG_RUNTIME_DIR=run,
            PULSE_STATE_PATH=str(self.folder / "state"),
            PULSE_COOKIE=str(self.folder / "cookie"),
        )
        env.pop("PULSE_SOURCE", None)
        env.pop("PULSE_SINK", None)
        return env

    def _script(self) -> str:
        cmap = ",".join(alsa_channel_map(self.channels))
        return "\n".join([
            f"load-module module-native-protocol-unix auth-anonymous=1 socket={self.socket}",
            f"load-module module-null-sink sink_name={self.sink} rate={self.rate} format=float32le channels={self.channels} "
            f"channel_map={cmap} norewinds=1 sink_properties=device.description=meetflow-virtual-array",
            f"set-default-sink {self.sink}",
            f"set-default-source {self.source}",
            "",
        ])

    def start(self, timeout: float = 10.0) -> "PulseServer":
        if not available():
            raise PulseUnavailable("PulseAudio is not installed (Debian: apt-get install pulseaudio pulseaudio-utils libasound2-plugins)")
        for sub in ("run", "state"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        script = self.folder / "server.pa"
        script.write_text(self._script())
        log = open(self.folder / "pulseaudio.log", "wb")
        self.proc = subprocess.Popen(
            ["pulseaudio", "-n", "-F", str(script), "--exit-idle-time=-1", "--daemonize=no", "--use-pid-file=no",
             "--disallow-exit", "--log-target=stderr", "--log-level=notice"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PulseUnavailable(f"pulseaudio exited at start (status {self.proc.returncode}): {self.log_tail()}")
            if self.socket.exists() and self.pactl("info", check=False).returncode == 0:
                return self
            time.sleep(0.05)
        self.stop()
        raise PulseUnavailable(f"pulseaudio did not start within {timeout:.0f} s: {self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join((self.folder / "pulseaudio.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def pactl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["pactl", *args], env=self.env, capture_output=True, text=True, timeout=10, check=check)

    def play(self, path: str | Path, wait: bool = True) -> subprocess.Popen[bytes]:
        """Play a recording into the array, channel k into microphone k."""
        proc = subprocess.Popen(["paplay", "--no-remap", f"--device={self.sink}", str(path)], env=self.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._players.append(proc)
        if wait:
            _, err = proc.communicate()
            if proc.returncode != 0:
                raise RuntimeError(f"paplay failed ({proc.returncode}): {err.decode(errors='replace').strip()}")
        return proc

    def recording_clients(self) -> int:
        """How many streams are recording from the server now (to wait for a client)."""
        res = self.pactl("list", "short", "source-outputs", check=False)
        return len([line for line in res.stdout.splitlines() if line.strip()])

    def wait_for_client(self, timeout: float = 30.0, process: subprocess.Popen | None = None) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.recording_clients() > 0:
                return True
            if process is not None and process.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def kill(self) -> None:
        """Kill the server abruptly (as a crash would), to test what clients do."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        for p in self._players:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)
        self._players.clear()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None
        if self._own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "PulseServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
