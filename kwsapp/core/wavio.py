"""Reading and writing WAV files, with clear errors for every kind of bad file.

A small RIFF parser rather than the `wave` module, because `wave` rejects IEEE-float
WAVs (common from DAWs and sox) and WAVE_FORMAT_EXTENSIBLE headers. It reads the file
front to back in blocks and never seeks, so a pipe or a FIFO is read like a file and an
endless stream never has to fit in memory. The checks on what was read (check_format,
check_samples) are separate so they can sit on top of any other reader.
"""
from __future__ import annotations

import os
import struct
import warnings
from dataclasses import dataclass
from typing import BinaryIO, Self

import numpy as np

from .errors import AudioFileError

_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE
# A writer that cannot seek back to fill in the data size (sox or ffmpeg writing to a pipe)
# leaves one of these; the samples then run to the end of the stream.
UNKNOWN_DATA_SIZES = (0, 0x7FFFF000, 0xFFFFFFFF)
MIN_RATE, MAX_RATE = 1000, 384000
# More than any recorder or ambisonics format writes; 65535 is what a damaged header says.
MAX_CHANNELS = 64
# Float WAVs may go past full scale (a float mix has headroom), but not by more than this
# (+12 dBFS): beyond it the file is damaged or wrongly scaled, and the model, trained on
# audio within [-1, 1], would give a confident wrong word. Refused rather than normalised,
# because a stream cannot be normalised before its end is known.
FLOAT_LIMIT = 4.0
_MAX_FMT_BYTES = 64  # a format chunk is 16, 18 or 40 bytes; the rest of a larger one is skipped
_SKIP_BLOCK = 1 << 16

StrPath = str | os.PathLike[str]  # a file name as open() takes it


def _fail(path: StrPath, problem: str, hint: str = "check the file or record it again") -> AudioFileError:
    return AudioFileError(f"{path}: {problem}; {hint}")


@dataclass(frozen=True)
class WavFormat:
    tag: int  # _PCM or _FLOAT (the sub-format of an extensible header)
    channels: int
    rate: int
    block: int  # bytes per frame ("block align")
    bits: int


def check_format(path: StrPath, fmt: WavFormat) -> None:
    """Refuse a header whose fields cannot be decoded or contradict each other, in one line
    naming the field that is wrong."""
    if not ((fmt.tag == _PCM and fmt.bits in (8, 16, 24, 32)) or (fmt.tag == _FLOAT and fmt.bits in (32, 64))):
        raise _fail(path, f"uses an unsupported encoding (format {fmt.tag}, {fmt.bits} bit)",
                    "convert it to 16-bit PCM or float WAV")
    if not 1 <= fmt.channels <= MAX_CHANNELS:
        raise _fail(path, f"has an invalid channel count in its header ({fmt.channels}; 1 to {MAX_CHANNELS} "
                          "can be read)")
    if not MIN_RATE <= fmt.rate <= MAX_RATE:
        raise _fail(path, f"has an invalid sample rate in its header ({fmt.rate} Hz; "
                          f"{MIN_RATE // 1000}-{MAX_RATE // 1000} kHz can be read)")
    need = fmt.channels * fmt.bits // 8
    if fmt.block != need:
        raise _fail(path, f"has an invalid block align in its header ({fmt.block} bytes per frame, but "
                          f"{fmt.channels} channel(s) of {fmt.bits}-bit samples take {need})")


def check_samples(path: StrPath, samples: np.ndarray) -> None:
    """Refuse float samples that are NaN, infinite or far outside [-1, 1]. Run on the
    file's own dtype, before any cast: float64 values beyond float32's range would
    otherwise become infinities (and numpy warnings) in the cast."""
    if samples.dtype.kind != "f" or samples.size == 0:
        return
    bad = ~np.isfinite(samples)
    if bad.any():
        raise _fail(path, f"contains {int(bad.sum())} NaN or infinite samples", "clean or re-export the audio")
    peak = float(np.abs(samples).max())
    if peak > FLOAT_LIMIT:
        raise _fail(path, f"has float samples up to {peak:.3g}, far outside [-1, 1] (at most "
                          f"{FLOAT_LIMIT:g} is accepted)", "normalise it, e.g. `sox in.wav out.wav gain -n -1`")


def _open(path: StrPath) -> BinaryIO:
    if os.path.isdir(path):
        raise _fail(path, "is a directory, not a WAV file", "give the path of a .wav file")
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise _fail(path, "no such file", "check the path") from None
    except PermissionError:
        raise _fail(path, "cannot be read (permission denied)", "fix its permissions") from None
    except OSError as e:
        raise _fail(path, f"cannot be read ({e.strerror})") from None


def _skip(f: BinaryIO, n: int) -> None:
    # Read and drop, in blocks: a pipe cannot seek, and a huge chunk must not be held at once.
    while n > 0:
        got = len(f.read(min(n, _SKIP_BLOCK)))
        if not got:
            return
        n -= got


def _read_header(f: BinaryIO, path: StrPath) -> tuple[WavFormat, int | None]:
    """Read up to the start of the samples; returns the format and the data size in bytes
    (None: unknown, read to the end)."""
    head = f.read(12)
    if not head:
        raise _fail(path, "is empty (0 bytes)")
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise _fail(path, "is not a WAV file (no RIFF/WAVE header)", "convert it to WAV, e.g. with sox")
    fmt = None
    while True:
        chunk = f.read(8)
        if len(chunk) < 8:
            if fmt is None:
                raise _fail(path, "has no format chunk (truncated or corrupt header)")
            raise _fail(path, "has no data chunk (truncated or corrupt)")
        cid, size = struct.unpack("<4sI", chunk)
        if cid == b"data":
            if fmt is None:
                raise _fail(path, "has no format chunk (truncated or corrupt header)")
            check_format(path, fmt)
            return fmt, None if size in UNKNOWN_DATA_SIZES else size
        if cid == b"fmt ":
            body = f.read(min(size, _MAX_FMT_BYTES))
            if len(body) < 16:
                raise _fail(path, "has a truncated format chunk")
            tag, channels, rate, _, block, bits = struct.unpack_from("<HHIIHH", body)
            if tag == _EXTENSIBLE and len(body) >= 26:
                tag = struct.unpack_from("<H", body, 24)[0]
            fmt = WavFormat(tag, channels, rate, block, bits)
            _skip(f, size - len(body) + (size & 1))
        else:
            _skip(f, size + (size & 1))


class WavReader:
    """A WAV file or stream with its header read and checked; the samples are then read
    in blocks. Opening a FIFO waits until a writer opens it."""

    def __init__(self, path: StrPath) -> None:
        self.path = os.fspath(path)
        self._f = _open(self.path)
        try:
            self.format, self._left = _read_header(self._f, self.path)
        except BaseException:
            self._f.close()
            raise
        self._declared = self._left
        self._pending = b""  # a partial frame left by a short read of a pipe

    @property
    def rate(self) -> int:
        return self.format.rate

    def _data(self, n: int | None) -> bytes:
        """Up to ``n`` more bytes of samples (all that is left when None); b"" at the end."""
        if self._left is None:
            return self._f.read() if n is None else self._f.read(n)
        n = self._left if n is None else min(n, self._left)
        data = self._f.read(n)
        self._left -= len(data)
        if len(data) < n:
            assert self._declared is not None  # known, as _left is
            got = self._declared - self._left
            raise _fail(self.path, f"is truncated (data chunk says {self._declared} bytes, file has {got})")
        return data

    def read(self, frames: int | None = None) -> np.ndarray:
        """The next ``frames`` frames (all the rest when None) as float32 [frames, channels];
        fewer at the end, none after it."""
        block = self.format.block
        raw = self._pending + self._data(None if frames is None else frames * block - len(self._pending))
        n = len(raw) // block * block
        self._pending = raw[n:]
        return decode(self.path, raw[:n], self.format)

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def decode(path: StrPath, raw: bytes, fmt: WavFormat) -> np.ndarray:
    """Whole frames of samples -> float32 [frames, channels]."""
    width = fmt.bits // 8
    if fmt.tag == _FLOAT:
        native = np.frombuffer(raw, dtype=f"<f{width}")
        check_samples(path, native)
        samples = native.astype(np.float32)
    else:
        samples = _decode_pcm(raw, width)
    return samples.reshape(-1, fmt.channels)


def read_wav(path: StrPath) -> tuple[np.ndarray, int]:
    """Return (samples as float32 [frames, channels] in [-1, 1], sample_rate)."""
    with WavReader(path) as r:
        samples = r.read()
    if samples.size == 0:
        raise _fail(r.path, "has no audio (zero-length data)")
    return samples, r.rate


def _decode_pcm(pcm: bytes, width: int) -> np.ndarray:
    raw = np.frombuffer(pcm, dtype=np.uint8)
    if width == 1:  # 8-bit WAV is unsigned
        return (raw.astype(np.float32) - 128.0) / 128.0
    if width == 3:
        b = raw.reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        return v.astype(np.float32) / float(1 << 23)
    dtype = {2: "<i2", 4: "<i4"}[width]
    return np.frombuffer(pcm, dtype=dtype).astype(np.float32) / float(1 << (8 * width - 1))


def to_mono(samples: np.ndarray) -> np.ndarray:
    """[frames, channels] -> [frames]; channels are averaged (no clipping, no phase tricks)."""
    if samples.ndim == 1:
        return samples.astype(np.float32, copy=False)
    if samples.shape[1] > 1:
        mono: np.ndarray = samples.mean(axis=1, dtype=np.float32)
        return mono
    return samples[:, 0]


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited resampling (libsoxr, 'high quality') of a whole mono signal."""
    if rate_in == rate_out:
        return x.astype(np.float32, copy=False)
    import soxr  # only when a rate differs: most inputs are 16 kHz already

    out: np.ndarray = soxr.resample(x.astype(np.float32, copy=False), rate_in, rate_out, quality="HQ")
    return out.astype(np.float32)


def load_audio(path: StrPath, sample_rate: int = 16000) -> np.ndarray:
    """Any supported WAV -> mono float32 at ``sample_rate``."""
    samples, rate = read_wav(path)
    return resample(to_mono(samples), rate, sample_rate)


def write_wav(path: StrPath, audio: np.ndarray, sample_rate: int = 16000) -> None:
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
