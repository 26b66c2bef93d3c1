"""One second (or any length) of audio around a word: the cut both the recorded takes and the
trainer's clips use, whatever each does to find where the word is."""
from __future__ import annotations

import numpy as np
import numpy.typing as npt


def cut_around(x: np.ndarray, centre: int, length: int) -> np.ndarray:
    """The ``length`` samples of ``x`` centred on sample ``centre``, shifted to stay inside ``x``
    (a word near an edge keeps its audio rather than gaining silence); an ``x`` shorter than
    ``length`` is padded with zeros at the end."""
    x = np.asarray(x).reshape(-1)
    if len(x) < length:
        x = np.pad(x, (0, length - len(x)))
    start = int(np.clip(centre - length // 2, 0, len(x) - length))
    return x[start : start + length]


def place_in_middle(word: np.ndarray, length: int, dtype: npt.DTypeLike = np.float32) -> np.ndarray:
    """``word`` (at most ``length`` samples) in the middle of ``length`` samples of zeros."""
    out = np.zeros(length, dtype)
    offset = (length - len(word)) // 2
    out[offset : offset + len(word)] = word
    return out
