"""A private PulseAudio server with a virtual microphone, for tests that need a real
audio device (CI has no sound card).

    from pulse import virtual_mic  # noqa: F401  (a module-scoped pytest fixture)

    def test_x(virtual_mic):
        ...  # MicSource(ring, virtual_mic.device) records what virtual_mic.play(path) plays

Sound played into the null sink ``vsink`` comes out of the virtual source ``vmic``
(the default source), which PortAudio reaches through its ALSA "pulse"/"default"
device: the same code path as a real microphone. The server runs in its own runtime
directory, so a developer's own PulseAudio/PipeWire is neither used nor disturbed, and it
is killed when the fixture ends.
"""
from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import time

import pytest

SINK = "vsink"
SOURCE = "vmic"
# What PortAudio calls the PulseAudio route (the ALSA plug-in device).
PORTAUDIO_DEVICE = "pulse"
_ENV_KEYS = ("PULSE_RUNTIME_PATH", "PULSE_SERVER", "PULSE_COOKIE", "PULSE_SINK", "PULSE_SOURCE")


class VirtualMic:
    def __init__(self):
        self.dir = None
        self.device = PORTAUDIO_DEVICE
        self._saved_env = {}
        self._players: list[subprocess.Popen] = []

    # ---- server ---------------------------------------------------------------------
    def _env(self) -> dict:
        return {
            "PULSE_RUNTIME_PATH": os.path.join(self.dir, "run"),
            "PULSE_SERVER": f"unix:{os.path.join(self.dir, 'run', 'native')}",
            "PULSE_COOKIE": os.path.join(self.dir, "pulse", "cookie"),
        }

    def _run(self, *cmd, check=True, timeout=15):
        env = dict(os.environ, HOME=self.dir, XDG_CONFIG_HOME=self.dir, **self._env())
        return subprocess.run(cmd, env=env, check=check, timeout=timeout, capture_output=True, text=True)

    def start(self) -> "VirtualMic":
        for tool in ("pulseaudio", "pactl", "paplay"):
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} is not installed; run `make setup-test` (installs pulseaudio, "
                                   "pulseaudio-utils)")
        self.dir = tempfile.mkdtemp(prefix="kws-pulse-")
        atexit.register(self.stop)  # even an interrupted test run must not leave a server behind
        os.makedirs(os.path.join(self.dir, "run"), mode=0o700)
        # -n: no default.pa (no hardware probing, no suspend-on-idle); as root PulseAudio
        # needs --system=false to run as a per-user daemon.
        self._run("pulseaudio", "-D", "-n", "--system=false", "--exit-idle-time=-1",
                  "--load=module-native-protocol-unix", f"--log-target=file:{self.dir}/pulse.log")
        deadline = time.monotonic() + 10
        while self._run("pactl", "info", check=False).returncode != 0:
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("PulseAudio did not start within 10 s")
            time.sleep(0.1)
        self._run("pactl", "load-module", "module-null-sink", f"sink_name={SINK}")
        self._run("pactl", "load-module", "module-virtual-source", f"source_name={SOURCE}",
                  f"master={SINK}.monitor")
        self._run("pactl", "set-default-source", SOURCE)
        self._run("pactl", "set-default-sink", SINK)
        # This process (PortAudio's ALSA pulse plug-in, inside sounddevice) must reach
        # our server, and PortAudio must re-scan to see it.
        for k in _ENV_KEYS:
            self._saved_env[k] = os.environ.get(k)
        os.environ.update(self._env())
        from kwsapp.audio.devices import refresh

        refresh()
        return self

    def stop(self) -> None:
        atexit.unregister(self.stop)
        for p in self._players:
            if p.poll() is None:
                p.kill()
                p.wait(5)
        self._players.clear()
        if self.dir is None:
            return
        self._run("pulseaudio", "--kill", check=False)
        pid_file = os.path.join(self.dir, "run", "pid")
        deadline = time.monotonic() + 5
        while os.path.exists(pid_file) and time.monotonic() < deadline:
            time.sleep(0.05)
        for k, v in self._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self._saved_env.clear()
        try:
            from kwsapp.audio.devices import refresh

            refresh()  # forget the devices of the server that just went away
        except Exception:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- playing --------------------------------------------------------------------
    def play(self, path, wait: bool = True, timeout: float = 60.0):
        """Play a WAV file into the virtual microphone (blocking unless wait=False)."""
        env = dict(os.environ, HOME=self.dir, **self._env())
        p = subprocess.Popen(["paplay", f"--device={SINK}", str(path)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if not wait:
            self._players.append(p)
            return p
        _, err = p.communicate(timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError(f"paplay failed: {err.decode(errors='replace').strip()}")
        return p


@pytest.fixture(scope="module")
def virtual_mic():
    vm = VirtualMic().start()
    try:
        yield vm
    finally:
        vm.stop()
