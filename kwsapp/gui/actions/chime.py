"""The built-in detection chime: two short bell tones, made with numpy by this module.

Written once into the user's cache folder at first use (and again if it went missing: a
cache may be emptied any time), so the package ships no audio file and QSoundEffect, which
plays files, can play it like a sound the user chose.
"""
from __future__ import annotations

import os

import numpy as np

from ...core.vocabulary import cache_dir
from ...core.wavio import write_wav

RATE = 22050
NOTES_HZ = (1318.5, 1760.0)  # E6 then A6: a rising fourth reads as "yes, heard", not as an alarm
NOTE_S = 0.12
DURATION_S = 0.35  # the second note rings out; short enough never to hide the next word
LEVEL = 0.35  # well below full scale: it plays at the desktop's volume, often on headphones
VERSION = 1  # in the file name: a changed chime never plays an older cached one


def chime_samples(rate: int = RATE) -> np.ndarray:
    """The chime as mono float32 in [-1, 1], DURATION_S long."""
    n = int(round(DURATION_S * rate))
    t = np.arange(n) / rate
    out = np.zeros(n, np.float64)
    for i, f in enumerate(NOTES_HZ):
        start = i * NOTE_S
        tt = t[t >= start] - start
        # A bell: the note and a soft octave partial, each with an exponential decay.
        note = np.sin(2 * np.pi * f * tt) + 0.3 * np.sin(4 * np.pi * f * tt)
        out[t >= start] += note * np.exp(-tt / 0.07)
    ramp = max(1, int(0.003 * rate))  # 3 ms fades: no click at either end
    out[:ramp] *= np.linspace(0, 1, ramp)
    out[-ramp:] *= np.linspace(1, 0, ramp)
    return (LEVEL * out / np.abs(out).max()).astype(np.float32)


def write_chime(path: str, rate: int = RATE) -> str:
    """Write the chime as a 16-bit WAV at ``path`` (atomically, see write_wav)."""
    write_wav(path, chime_samples(rate), rate)
    return path


def chime_path(folder: str | None = None) -> str:
    """The chime's WAV file, written first if it is not there yet."""
    folder = folder or os.path.join(cache_dir(), "sounds")
    path = os.path.join(folder, f"chime-v{VERSION}.wav")
    if not os.path.isfile(path):
        os.makedirs(folder, exist_ok=True)
        write_chime(path)
    return path
