"""Any audio input -> mono float32 at the model's rate: WAV through kwsapp.core.wavio (it reads pipes
and WAVs of unknown length, and names the wrong header field), FLAC/OGG/MP3 and the other
formats libsndfile knows through soundfile, and raw 16-bit little-endian mono PCM (``--raw``).
The checks of kwsapp.core.wavio (check_format, check_samples) sit on top of every reader.
"""
from __future__ import annotations

import os
import stat

import numpy as np

from ..core.errors import AudioFileError
from ..core.wavio import _FLOAT, WavFormat, check_format, check_samples, read_wav, resample, to_mono

STDIN = "-"
RAW_RATE = 16000  # --raw is the model's own format: 16-bit mono at 16 kHz (arecord -f S16_LE -r 16000)
# What a folder given to --input is searched for; other files in it (notes, images) are not audio.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff")


def is_stream(path) -> bool:
    """Standard input ("-"), a FIFO or a device: any path that exists and is neither a regular
    file nor a folder. Its audio arrives over time, so it is read as it comes (the live engine,
    with back-pressure; FileSource block by block) rather than decoded whole first."""
    if path == STDIN:
        return True
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False  # the reader names the problem
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _is_wav(path: str) -> bool:
    """By content or name: a WAV called .mp3 still gets the WAV reader, and so does a broken
    .wav, whose error then says it is not a WAV (not what libsndfile makes of it)."""
    if path == STDIN or not os.path.isfile(path) or path.lower().endswith(".wav"):
        return True  # stdin, a FIFO (peeking would take its bytes), or what read_wav names as missing
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return True  # read_wav names the problem (permission denied)
    return head[:4] in (b"RIFF", b"")  # an empty file: read_wav says so


def _read_soundfile(path: str) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        with sf.SoundFile(path) as f:
            check_format(path, WavFormat(_FLOAT, f.channels, f.samplerate, 4 * f.channels, 32))
            samples = f.read(dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as e:
        # libsndfile's message names the problem ("Format not recognised", "Unspecified internal error")
        detail = str(e).split(": ", 1)[-1].strip() or "unreadable"
        raise AudioFileError(f"{path}: cannot be decoded as audio ({detail}); convert it to WAV, FLAC "
                             "or MP3, e.g. with sox or ffmpeg") from None
    check_samples(path, samples)
    if samples.size == 0:
        raise AudioFileError(f"{path}: has no audio (zero-length data); check the file or record it again")
    return samples, f.samplerate


def _read_raw(stream) -> tuple[np.ndarray, int]:
    data = stream.read()
    usable = len(data) // 2 * 2  # a cut-off last byte is half a sample: dropped
    if usable == 0:
        raise AudioFileError("stdin: no audio arrived (raw 16-bit samples expected); check what writes to it")
    return (np.frombuffer(data[:usable], "<i2").astype(np.float32) / 32768.0).reshape(-1, 1), RAW_RATE


def read_audio(path: str, raw: bool = False, stdin=None) -> tuple[np.ndarray, int]:
    """(samples float32 [frames, channels], the input's rate). ``path`` "-" is standard input:
    a WAV stream, or with ``raw`` 16-bit 16 kHz mono samples. Raises AudioFileError in one line."""
    if raw:
        if path != STDIN:
            raise AudioFileError(f"{path}: --raw applies only to --input - (standard input)")
        import sys

        return _read_raw(stdin or sys.stdin.buffer)
    if _is_wav(path):
        return read_wav("/dev/stdin" if path == STDIN else path)
    return _read_soundfile(path)


def load_input(path: str, sample_rate: int = 16000, raw: bool = False) -> tuple[np.ndarray, int]:
    """:func:`read_audio` as mono float32 at ``sample_rate``, and the input's own rate."""
    samples, rate = read_audio(os.fspath(path), raw)  # a pathlib.Path too
    return resample(to_mono(samples), rate, sample_rate), rate


def expand_inputs(paths: list[str]) -> list[str]:
    """Files as given, folders replaced by the audio files below them (sorted, so runs repeat)."""
    out = []
    for p in paths:
        if p != STDIN and os.path.isdir(p):
            found = sorted(os.path.join(d, n) for d, _, names in os.walk(p) for n in names
                           if n.lower().endswith(AUDIO_EXTENSIONS))
            if not found:
                raise AudioFileError(f"{p}: is a directory with no audio files below it ({', '.join(AUDIO_EXTENSIONS)})")
            out.extend(found)
        else:
            out.append(p)
    return out
