"""End to end through a real audio device: clips played into a PulseAudio virtual
microphone, recorded by MicSource (PortAudio), recognised by the engine."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from pulse import VirtualMic, virtual_mic  # noqa: F401

from kwsapp.audio.mic import MicSource
from kwsapp.audio.ringbuffer import RingBuffer
from kwsapp.cli import main
from kwsapp.core.errors import DeviceError
from kwsapp.core.wavio import write_wav
from kwsapp.engine import Engine
from kwstrain.streamtest import pick_clips, sequence_stream

pytestmark = pytest.mark.audio
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def in_order(played, detected) -> int:
    """How many played labels were detected in order (longest common subsequence)."""
    m = np.zeros((len(played) + 1, len(detected) + 1), int)
    for i, a in enumerate(played):
        for j, b in enumerate(detected):
            m[i + 1, j + 1] = m[i, j] + 1 if a == b else max(m[i, j + 1], m[i + 1, j])
    return int(m[-1, -1])


def wait_for_audio(ring, timeout=8.0):
    """Block until the device delivers (PulseAudio's ALSA plug-in may hold the first
    block for about 2 s)."""
    deadline = time.monotonic() + timeout
    while ring.total_written == 0:
        assert time.monotonic() < deadline, "the virtual microphone delivered no audio"
        time.sleep(0.01)


def record(vm, path, device_rate=None, settle=0.3):
    ring = RingBuffer(16000 * 6)
    mic = MicSource(ring, vm.device, device_rate=device_rate)
    mic.start()
    try:
        wait_for_audio(ring)
        time.sleep(settle)
        start = ring.total_written
        vm.play(path)
        time.sleep(settle)
        return ring.read_range(start, ring.total_written), mic
    finally:
        mic.stop()


def test_devices_lists_the_virtual_microphone(virtual_mic, capsys):
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "pulse" in out and "(default)" in out
    assert main(["devices", "--json"]) == 0
    names = [d["name"] for d in json.loads(capsys.readouterr().out)]
    assert "pulse" in names


@pytest.mark.parametrize("device_rate", [None, 44100, 48000])
def test_recording_keeps_a_tones_frequency_and_level(virtual_mic, tmp_path, device_rate):
    t = np.arange(16000) / 16000
    path = tmp_path / "tone.wav"
    write_wav(path, (0.4 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32))
    x, mic = record(virtual_mic, path, device_rate)
    assert mic.native_rate == (device_rate or 16000)
    assert ("->" in mic.describe()) == bool(device_rate)
    loud = x[np.abs(x) > 0.05]
    assert 0.8 * 16000 < len(x) and len(loud) > 0.5 * 16000
    seg = x[np.argmax(np.abs(x) > 0.05) :][2000:10000]
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    assert abs(np.argmax(spec) * 16000 / len(seg) - 1000) <= 4
    assert np.sqrt(np.mean(seg**2)) == pytest.approx(0.4 / np.sqrt(2), rel=0.1)
    assert mic.error is None


def test_played_commands_are_detected_in_order(virtual_mic, data_dir, model_dir, tmp_path):
    clips = pick_clips(data_dir, "testing", words=("yes", "no", "up", "down", "left", "right", "stop", "go"))
    audio, truth = sequence_stream(clips, gap_s=0.8, noise=0.0)
    path = tmp_path / "commands.wav"
    write_wav(path, audio)
    dets = []
    eng = Engine(MicSource(RingBuffer(32000), virtual_mic.device), model_dir, on_detection=dets.append)
    eng.start()
    try:
        wait_for_audio(eng.source.ring)
        time.sleep(0.3)
        virtual_mic.play(path)
        time.sleep(1.2)  # let the last word through the averaging window
    finally:
        eng.stop()
    played = [l for l, _ in truth]
    got = [d.label for d in dets]
    assert in_order(played, got) >= 6, got  # of 8
    assert len(got) <= len(played) + 1, got
    times = [d.stream_time_s for d in dets]
    assert times == sorted(times)


def test_listen_on_the_microphone_prints_json_and_stops_on_ctrl_c(virtual_mic, data_dir, tmp_path):
    clips = pick_clips(data_dir, "testing", words=("up", "off", "go"))
    audio, truth = sequence_stream(clips, gap_s=0.8, noise=0.0)
    path = tmp_path / "three.wav"
    write_wav(path, audio)
    env = dict(os.environ, PYTHONPATH=ROOT)  # carries the virtual server's PULSE_* variables
    p = subprocess.Popen([sys.executable, "-m", "kwsapp", "listen", "--device", virtual_mic.device, "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    err = ""
    deadline = time.monotonic() + 60
    while "listening" not in err and time.monotonic() < deadline and p.poll() is None:
        err += p.stderr.readline()
    assert "listening: microphone" in err, err
    time.sleep(2.5)  # past PulseAudio's slow first block (the audio would be late, not lost)
    virtual_mic.play(path)
    time.sleep(1.2)
    p.send_signal(signal.SIGINT)
    out, rest = p.communicate(timeout=10)
    assert p.returncode == 0 and "Traceback" not in rest, rest
    got = [json.loads(line)["label"] for line in out.splitlines()]
    assert in_order([l for l, _ in truth], got) >= 2, got


def test_a_vanishing_device_becomes_an_error(tmp_path):
    with VirtualMic() as vm:
        errors = []
        ring = RingBuffer(32000)
        eng = Engine(MicSource(ring, vm.device), os.path.join(ROOT, "assets", "model"), on_error=errors.append)
        eng.start()
        wait_for_audio(ring)
        vm._run("pulseaudio", "--kill", check=False)  # the device goes away under the stream
        assert eng.wait(8), "engine did not notice the device vanished"
        assert len(errors) == 1 and isinstance(errors[0], DeviceError)
        assert "(pulse)" in str(errors[0]) and "stopped" in str(errors[0])
        eng.stop()


def test_unknown_device_name_is_a_clear_error(virtual_mic):
    with pytest.raises(DeviceError, match="no input device matches 'no-such-mic'"):
        MicSource(RingBuffer(100), "no-such-mic").start()
