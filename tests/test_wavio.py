"""WAV reading: every common encoding works; every broken file fails with one clear line."""
import os
import struct

import numpy as np
import pytest

from kwsapp.core.errors import AudioFileError
from kwsapp.core.wavio import load_audio, read_wav, resample, write_wav
from tests.conftest import tone


def _wav_bytes(samples: np.ndarray, rate: int, fmt_tag: int, bits: int, extensible=False) -> bytes:
    ch = samples.shape[1]
    if fmt_tag == 3:
        data = samples.astype(f"<f{bits // 8}").tobytes()
    elif bits == 8:
        data = np.clip(np.round(samples * 128 + 128), 0, 255).astype(np.uint8).tobytes()
    elif bits == 24:
        v = np.clip(np.round(samples * 2**23), -(2**23), 2**23 - 1).astype("<i4")
        data = v.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    else:
        scale = 2 ** (bits - 1)
        data = np.clip(np.round(samples * scale), -scale, scale - 1).astype(f"<i{bits // 8}").tobytes()
    block = ch * bits // 8
    if extensible:
        fmt = struct.pack("<HHIIHHHHI16s", 0xFFFE, ch, rate, rate * block, block, bits, 22, bits, 0,
                          struct.pack("<H", fmt_tag) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71")
    else:
        fmt = struct.pack("<HHIIHH", fmt_tag, ch, rate, rate * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize("tag,bits,extensible", [(1, 8, False), (1, 16, False), (1, 24, False), (1, 32, False),
                                                (3, 32, False), (3, 64, False), (1, 16, True)])
def test_encodings_decode_to_the_same_signal(tmp_path, tag, bits, extensible):
    x = tone(440, 0.25, level=0.5)
    stereo = np.stack([x, -x * 0.5], axis=1)
    p = tmp_path / "a.wav"
    p.write_bytes(_wav_bytes(stereo, 16000, tag, bits, extensible))
    got, rate = read_wav(p)
    assert rate == 16000 and got.shape == stereo.shape and got.dtype == np.float32
    tol = 1.5 / 128 if bits == 8 else 1e-4
    np.testing.assert_allclose(got, stereo, atol=tol)
    np.testing.assert_allclose(load_audio(p), (stereo[:, 0] + stereo[:, 1]) / 2, atol=tol)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000, 96000])
def test_other_rates_are_resampled_keeping_frequency_and_level(tmp_path, rate):
    x = tone(1000, 1.0, rate=rate, level=0.5)
    p = tmp_path / "r.wav"
    p.write_bytes(_wav_bytes(x[:, None], rate, 1, 16))
    y = load_audio(p, 16000)
    assert abs(len(y) - 16000) <= 1
    spec = np.abs(np.fft.rfft(y[1000:-1000] * np.hanning(len(y) - 2000)))
    peak_hz = spec.argmax() * 16000 / (len(y) - 2000)
    assert abs(peak_hz - 1000) < 5
    assert abs(np.sqrt(np.mean(y[1000:-1000] ** 2)) - 0.5 / np.sqrt(2)) < 0.01


def test_resampling_removes_content_above_the_new_nyquist():
    x = tone(12000, 1.0, rate=48000, level=0.5)  # above 8 kHz: must not alias down
    y = resample(x, 48000, 16000)
    assert np.sqrt(np.mean(y[500:-500] ** 2)) < 0.005


def test_write_then_read_round_trips_16_bit(tmp_path):
    x = tone(300, 0.5)
    write_wav(tmp_path / "w.wav", x)
    y, rate = read_wav(tmp_path / "w.wav")
    assert rate == 16000
    np.testing.assert_allclose(y[:, 0], x, atol=1 / 32767)


def _bad_files(tmp_path):
    good = _wav_bytes(tone(440, 0.1)[:, None], 16000, 1, 16)
    nan = _wav_bytes(np.array([[0.1], [np.nan], [0.2]], np.float32), 16000, 3, 32)
    return {
        "empty": (b"", "empty"),
        "text": (b"hello, I am not audio at all", "not a WAV"),
        "truncated-data": (good[:-100], "truncated"),
        "truncated-header": (good[:30], "format chunk"),
        "no-data": (good[:36], "no data chunk"),
        "zero-length": (good[:40] + struct.pack("<I", 0), "no audio"),
        "nan": (nan, "NaN"),
    }


@pytest.mark.parametrize("case", ["empty", "text", "truncated-data", "truncated-header", "no-data", "zero-length",
                                  "nan"])
def test_broken_files_raise_one_clear_line(tmp_path, case):
    data, words = _bad_files(tmp_path)[case]
    p = tmp_path / f"{case}.wav"
    p.write_bytes(data)
    with pytest.raises(AudioFileError) as e:
        read_wav(p)
    msg = str(e.value)
    assert str(p) in msg and words in msg and "\n" not in msg


def test_missing_directory_and_unreadable(tmp_path):
    with pytest.raises(AudioFileError, match="no such file"):
        read_wav(tmp_path / "nope.wav")
    (tmp_path / "d.wav").mkdir()
    with pytest.raises(AudioFileError, match="is a directory"):
        read_wav(tmp_path / "d.wav")
    p = tmp_path / "locked.wav"
    write_wav(p, tone(440, 0.1))
    os.chmod(p, 0)
    if os.access(p, os.R_OK):  # root reads anything: simulate the OS refusing instead
        import builtins
        real_open = builtins.open

        def deny(path, *a, **k):
            if os.fspath(path) == str(p):
                raise PermissionError(13, "Permission denied")
            return real_open(path, *a, **k)

        builtins.open = deny
        try:
            with pytest.raises(AudioFileError, match="permission denied"):
                read_wav(p)
        finally:
            builtins.open = real_open
    else:
        with pytest.raises(AudioFileError, match="permission denied"):
            read_wav(p)
