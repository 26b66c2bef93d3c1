"""FileSource (any WAV format, real time or as fast as possible), resampling to 16 kHz,
device selection."""
import os
import struct
import time

import numpy as np
import pytest

from kwsapp.audio import devices as dev
from kwsapp.audio.decode import is_stream
from kwsapp.audio.filesource import FileSource
from kwsapp.audio.ringbuffer import RingBuffer
from kwsapp.core.errors import AudioFileError, DeviceError


def write_wav(path, x, rate, fmt="int16"):
    """x: [frames, channels] float in [-1, 1]."""
    x = np.atleast_2d(np.asarray(x, np.float64).T).T
    ch = x.shape[1]
    if fmt == "int16":
        data, tag, bits = (np.round(x * 32767).astype("<i2")).tobytes(), 1, 16
    elif fmt == "int24":
        v = np.round(x * (2**23 - 1)).astype(np.int32).reshape(-1)
        b = np.stack([v & 255, (v >> 8) & 255, (v >> 16) & 255], 1).astype(np.uint8)
        data, tag, bits = b.tobytes(), 1, 24
    elif fmt == "int32":
        data, tag, bits = (np.round(x * (2**31 - 1)).astype("<i4")).tobytes(), 1, 32
    else:
        data, tag, bits = x.astype("<f4").tobytes(), 3, 32
    block = ch * bits // 8
    hdr = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(data), b"WAVE", b"fmt ", 16, tag, ch, rate,
                      rate * block, block, bits, b"data", len(data))
    with open(path, "wb") as f:
        f.write(hdr + data)


def tone(freq, seconds, rate, level):
    t = np.arange(int(seconds * rate)) / rate
    return level * np.sin(2 * np.pi * freq * t)


def peak_hz_and_rms(x, rate=16000):
    x = x[len(x) // 4 : -len(x) // 4]  # away from the edges
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.argmax(spec) * rate / len(x), float(np.sqrt(np.mean(x**2)))


def drain(source, ring, timeout=10.0):
    source.start()
    deadline = time.monotonic() + timeout
    while not source.finished and time.monotonic() < deadline:
        time.sleep(0.01)
    source.stop()
    return ring.read_latest(ring.total_written)


@pytest.mark.parametrize("rate", [44100, 48000, 22050, 16000])
def test_resampling_to_16k_keeps_frequency_and_level(tmp_path, rate):
    p = tmp_path / f"tone{rate}.wav"
    write_wav(p, tone(1000, 1.0, rate, 0.5), rate, "float")
    ring = RingBuffer(32000)
    x = drain(FileSource(ring, p, realtime=False), ring)
    assert abs(len(x) - 16000) <= 2
    hz, rms = peak_hz_and_rms(x)
    assert abs(hz - 1000) <= 2
    assert rms == pytest.approx(0.5 / np.sqrt(2), rel=0.02)


def test_resampling_removes_content_above_the_new_nyquist(tmp_path):
    # 10 kHz cannot exist at 16 kHz: an anti-aliasing filter must drop it, not fold it to 6 kHz
    p = tmp_path / "high.wav"
    write_wav(p, tone(10000, 1.0, 48000, 0.5), 48000, "float")
    ring = RingBuffer(32000)
    x = drain(FileSource(ring, p, realtime=False), ring)
    assert np.sqrt(np.mean(x[2000:-2000] ** 2)) < 0.005


@pytest.mark.parametrize("fmt", ["int16", "int24", "int32", "float"])
def test_stereo_files_of_every_format_are_mixed_to_mono(tmp_path, fmt):
    left, right = tone(500, 0.5, 16000, 0.4), tone(500, 0.5, 16000, 0.2)
    p = tmp_path / f"st_{fmt}.wav"
    write_wav(p, np.stack([left, right], 1), 16000, fmt)
    ring = RingBuffer(16000)
    x = drain(FileSource(ring, p, realtime=False), ring)
    np.testing.assert_allclose(x, (left + right) / 2, atol=2e-4)


def test_fast_file_source_waits_for_the_reader(tmp_path):
    """As fast as possible but never overwriting what the reader still needs."""
    p = tmp_path / "ramp.wav"
    n = 48000
    write_wav(p, (np.arange(n) % 1000) / 1000.0, 16000, "float")
    ring = RingBuffer(8000)
    ring.set_oldest_needed(0)
    src = FileSource(ring, p, realtime=False)
    src.start()
    time.sleep(0.2)
    assert ring.total_written <= 8000  # held back: sample 0 is still needed
    got = [ring.read_range(0, 4000)]
    pos = 4000
    while pos < n:
        ring.set_oldest_needed(pos)
        assert ring.wait_for(min(pos + 4000, n), timeout=5)
        got.append(ring.read_range(pos, min(pos + 4000, n)))
        pos += 4000
    src.stop()
    np.testing.assert_allclose(np.concatenate(got), (np.arange(n) % 1000) / 1000.0, atol=1e-6)
    assert src.finished


def test_realtime_file_source_runs_at_real_time(tmp_path):
    p = tmp_path / "half.wav"
    write_wav(p, tone(300, 0.5, 16000, 0.1), 16000)
    ring = RingBuffer(16000)
    src = FileSource(ring, p, realtime=True)
    t0 = time.monotonic()
    src.start()
    time.sleep(0.2)
    mid = ring.total_written
    while not src.finished and time.monotonic() - t0 < 5:
        time.sleep(0.01)
    elapsed = time.monotonic() - t0
    src.stop()
    assert 0.45 <= elapsed < 1.0
    assert 1600 < mid < 6400  # about 0.2 s of audio after 0.2 s
    assert ring.total_written == 8000


def test_stop_is_prompt_and_idempotent(tmp_path):
    p = tmp_path / "long.wav"
    write_wav(p, tone(300, 20, 16000, 0.1), 16000)
    src = FileSource(RingBuffer(16000), p, realtime=True)
    src.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    src.stop()
    src.stop()
    assert time.monotonic() - t0 < 1.0
    assert not src.finished
    assert "long.wav" in src.describe() and "real time" in src.describe()


def test_bad_files_raise_one_clear_error(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wav at all")
    with pytest.raises(AudioFileError, match="not a WAV file"):
        FileSource(RingBuffer(100), bad).start()
    with pytest.raises(AudioFileError, match="no such file"):
        FileSource(RingBuffer(100), tmp_path / "missing.wav").start()


class FakeSd:
    """Stands in for sounddevice's device queries."""

    def __init__(self, devices, default_in):
        self._devices = devices
        self.default = type("D", (), {"device": [default_in, -1]})()

    def query_devices(self, kind=None):
        return [dict(d, index=i) for i, d in enumerate(self._devices)]


def fake_devices(monkeypatch, default_in=2):
    devs = [
        {"name": "HDA Intel PCH: ALC3246 Analog (hw:0,0)", "max_input_channels": 2, "default_samplerate": 44100.0},
        {"name": "HDMI output", "max_input_channels": 0, "default_samplerate": 48000.0},
        {"name": "USB Audio Mic (hw:1,0)", "max_input_channels": 1, "default_samplerate": 48000.0},
        {"name": "USB Audio Headset (hw:2,0)", "max_input_channels": 1, "default_samplerate": 16000.0},
    ]
    monkeypatch.setattr(dev, "sounddevice", lambda: FakeSd(devs, default_in))


def test_list_input_devices_skips_outputs_and_marks_the_default(monkeypatch):
    fake_devices(monkeypatch)
    devices = dev.list_input_devices()
    assert [d.index for d in devices] == [0, 2, 3]
    assert [d.is_default for d in devices] == [False, True, False]
    assert devices[1].default_rate == 48000.0 and devices[1].channels == 1


def test_resolve_device_by_index_name_or_default(monkeypatch):
    fake_devices(monkeypatch)
    assert dev.resolve_device(None).index == 2
    assert dev.resolve_device(3).index == 3
    assert dev.resolve_device("3").index == 3
    assert dev.resolve_device("alc3246").index == 0
    with pytest.raises(DeviceError, match="several input devices"):
        dev.resolve_device("usb audio")
    with pytest.raises(DeviceError, match="no input device matches 'zoom'"):
        dev.resolve_device("zoom")
    with pytest.raises(DeviceError, match="no input device with index 1"):
        dev.resolve_device(1)  # an output-only device


def test_no_devices_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(dev, "sounddevice", lambda: FakeSd([], -1))
    assert dev.list_input_devices() == []
    with pytest.raises(DeviceError, match="no audio input device"):
        dev.resolve_device(None)


def test_open_source_reads_a_file_at_once_and_makes_its_ring(tmp_path):
    from kwsapp.audio.mic import MicSource
    from kwsapp.audio.sources import DEFAULT_RING_SECONDS, SourceSpec, open_source

    p = tmp_path / "tone.wav"
    write_wav(p, 0.1 * np.sin(np.arange(8000) / 10), 16000)
    src = open_source(SourceSpec("file", path=str(p), realtime=False), ring_samples=20000)
    assert isinstance(src, FileSource) and src.ring.capacity == 20000 and src.duration_s == 0.5
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wav at all")
    with pytest.raises(AudioFileError, match="not a WAV file"):  # at open, not at start
        open_source(SourceSpec("file", path=str(bad)))
    mic = open_source(SourceSpec("mic", device="USB"))  # not started: no device is touched yet
    assert isinstance(mic, MicSource) and mic.device == "USB"
    assert mic.ring.capacity == DEFAULT_RING_SECONDS * 16000
    with pytest.raises(ValueError):
        SourceSpec("file")  # a file needs a path


def test_streams_are_stdin_fifos_and_devices_not_files_or_folders(tmp_path):
    wav = tmp_path / "a.wav"
    wav.write_bytes(b"RIFF")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link.wav"
    link.symlink_to(wav)
    assert [is_stream(str(p)) for p in (wav, link, tmp_path, tmp_path / "missing")] == [False] * 4
    assert is_stream(str(fifo)) and is_stream("/dev/null") and is_stream("-")
    assert not is_stream("a\0b")  # an impossible path: the reader names it
