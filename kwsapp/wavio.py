"""Reading and writing WAV files, with clear errors for every kind of bad file.

A small RIFF parser rather than the `wave` module, because `wave` rejects IEEE-float
WAVs (common from DAWs and sox) and WAVE_FORMAT_EXTENSIBLE headers.
"""
from __future__ import annotations

import os
import struct
import warnings

import numpy as np

from .errors import AudioFileError

_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE


def _fail(path, problem, hint="check the file or record it again") -> AudioFileError:
    return AudioFileError(f"{path}: {problem}; {hint}")


def read_wav(path) -> tuple[np.ndarray, int]:
    """Return (samples as float32 [frames, channels] in [-1, 1], sample_rate)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise _fail(path, "is a directory, not a WAV file", "give the path of a .wav file")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise _fail(path, "no such file", "check the path") from None
    except PermissionError:
        raise _fail(path, "cannot be read (permission denied)", "fix its permissions") from None
    except OSError as e:
        raise _fail(path, f"cannot be read ({e.strerror})") from None
    if not data:
        raise _fail(path, "is empty (0 bytes)")
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise _fail(path, "is not a WAV file (no RIFF/WAVE header)", "convert it to WAV, e.g. with sox")
    fmt = None
    pcm = None
    pos = 12
    while pos + 8 <= len(data):
        cid, size = struct.unpack_from("<4sI", data, pos)
        body = data[pos + 8 : pos + 8 + size]
        if cid == b"fmt ":
            if len(body) < 16:
                raise _fail(path, "has a truncated format chunk")
            fmt = struct.unpack_from("<HHIIHH", body)
            if fmt[0] == _EXTENSIBLE and len(body) >= 26:
                fmt = (struct.unpack_from("<H", body, 24)[0],) + fmt[1:]
        elif cid == b"data":
            pcm = body
            if len(body) < size:
                raise _fail(path, f"is truncated (data chunk says {size} bytes, file has {len(body)})")
            break
        pos += 8 + size + (size & 1)
    if fmt is None:
        raise _fail(path, "has no format chunk (truncated or corrupt header)")
    if pcm is None:
        raise _fail(path, "has no data chunk (truncated or corrupt)")
    tag, channels, rate, _, block, bits = fmt
    if channels < 1 or rate < 1000 or block < 1:
        raise _fail(path, f"has an invalid header ({channels} channels, {rate} Hz)")
    width = bits // 8
    if tag == _PCM and bits in (8, 16, 24, 32):
        samples = _decode_pcm(pcm, width, channels)
    elif tag == _FLOAT and bits in (32, 64):
        n = len(pcm) // (width * channels) * channels
        samples = np.frombuffer(pcm, dtype=f"<f{width}", count=n).astype(np.float32)
    else:
        raise _fail(path, f"uses an unsupported encoding (format {tag}, {bits} bit)",
                    "convert it to 16-bit PCM or float WAV")
    if samples.size == 0:
        raise _fail(path, "has no audio (zero-length data)")
    samples = samples.reshape(-1, channels)
    bad = ~np.isfinite(samples)
    if bad.any():
        raise _fail(path, f"contains {int(bad.sum())} NaN or infinite samples", "clean or re-export the audio")
    return samples, rate


def _decode_pcm(pcm: bytes, width: int, channels: int) -> np.ndarray:
    n = len(pcm) // (width * channels) * channels
    raw = np.frombuffer(pcm, dtype=np.uint8, count=n * width)
    if width == 1:  # 8-bit WAV is unsigned
        return (raw.astype(np.float32) - 128.0) / 128.0
    if width == 3:
        b = raw.reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        return v.astype(np.float32) / float(1 << 23)
    dtype = {2: "<i2", 4: "<i4"}[width]
    return np.frombuffer(raw.tobytes(), dtype=dtype).astype(np.float32) / float(1 << (8 * width - 1))


def to_mono(samples: np.ndarray) -> np.ndarray:
    """[frames, channels] -> [frames]; channels are averaged (no clipping, no phase tricks)."""
    if samples.ndim == 1:
        return samples.astype(np.float32, copy=False)
    return samples.mean(axis=1, dtype=np.float32) if samples.shape[1] > 1 else samples[:, 0]


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited resampling (libsoxr, 'high quality') of a whole mono signal."""
    if rate_in == rate_out:
        return x.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(x.astype(np.float32, copy=False), rate_in, rate_out, quality="HQ").astype(np.float32)


def load_audio(path, sample_rate: int = 16000) -> np.ndarray:
    """Any supported WAV -> mono float32 at ``sample_rate``."""
    samples, rate = read_wav(path)
    return resample(to_mono(samples), rate, sample_rate)


def write_wav(path, audio: np.ndarray, sample_rate: int = 16000) -> None:
    """Write mono float audio as 16-bit PCM, atomically (a temp file, then rename)."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError("write_wav takes mono audio")
    if not np.isfinite(audio).all():
        warnings.warn("write_wav: non-finite samples replaced by 0")
        audio = np.nan_to_num(audio, nan=0.0, posinf=0.0, neginf=0.0)
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(pcm), b"WAVE", b"fmt ", 16, _PCM, 1,
        sample_rate, sample_rate * 2, 2, 16, b"data", len(pcm),
    )
    tmp = f"{os.fspath(path)}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(header + pcm)
    os.replace(tmp, path)
