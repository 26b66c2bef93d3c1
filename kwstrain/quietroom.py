"""A quiet room as audio: the dataset's background noise files at a low level, and the voice among them.

``robustness`` counts false alarms in the room (no voice: silence must stay silent) and on the voice
apart; ``falsealarms --quiet-voice-dbfs`` adds the voice to the running speech it tunes on.
"""
from __future__ import annotations

import os

import numpy as np

from kwsapp.core.errors import KwsError
from kwsapp.core.wavio import load_audio

from . import dataset as D

RATE = 16000
# A quiet room holds no voice: dude_miaowing.wav (a person imitating a cat) is a voice, so it is
# heard as speech at the quiet room's levels (round 18), never as the room.
VOICE_NOISE = ("dude_miaowing.wav",)
DEFAULT_LEVELS = "-70,-60,-50"


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


def noise_beds(data_dir: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The dataset's background noise files as (rooms without a voice, voices), each at 16 kHz."""
    rooms: list[np.ndarray] = []
    voices: list[np.ndarray] = []
    for path in D.scan(data_dir).background_files:
        x = load_audio(path, RATE)
        if len(x) and rms(x) > 1e-9:
            (voices if os.path.basename(path) in VOICE_NOISE else rooms).append(x)
    return rooms, voices


def at_level(beds: list[np.ndarray], level_dbfs: float, seed: int = 0, seconds: float | None = None) -> np.ndarray:
    """Each bed once, each at ``level_dbfs`` RMS, over a microphone's own hiss 20 dB below, end to end;
    cut to ``seconds`` if given (never looped: a repeat would count one sound twice)."""
    if not beds:
        return np.zeros(0, np.float32)
    gain = 10.0 ** (level_dbfs / 20.0)
    y = np.concatenate([b.astype(np.float64) * (gain / rms(b)) for b in beds])
    if seconds is not None:
        y = y[: int(seconds * RATE)]
    hiss = np.random.default_rng(seed).normal(0.0, gain * 0.1, len(y))
    return np.clip(y + hiss, -1.0, 1.0).astype(np.float32)


def voice_at_levels(data_dir: str, levels_dbfs: list[float], seed: int = 0) -> np.ndarray:
    """The voice files at each level in turn, as ``robustness`` plays them (the same seed, the same hiss)."""
    _, voices = noise_beds(data_dir)
    if not voices:
        raise KwsError(f"{data_dir} has no {', '.join(VOICE_NOISE)} in _background_noise_; "
                         "leave out --quiet-voice-dbfs or use the full dataset")
    return np.concatenate([at_level(voices, level, seed) for level in levels_dbfs])
