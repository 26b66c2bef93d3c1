"""Input levels in dBFS, and the level below which the bundled model stops hearing commands.

One home for both: the engine's hops, the voice recorder's meter, the window's "too quiet"
hint, the docs and the tests read them here. numpy only.
"""
from __future__ import annotations

import numpy as np

FLOOR_DBFS = -120.0  # what digital silence (or no audio at all) reads as

TOO_QUIET_DBFS = -70.0
"""Where the bundled model stops hearing most commands, in dBFS of the loudest 100 ms of the last
few seconds. Measured on the validation streams (2026-12-07, round 26's level-invariant model): their
words' loudest 100 ms is at -16 dBFS (median) as recorded, where the model finds 85.7 %; it finds 85.5 %
40 dB lower, 73.8 % 50 dB lower (median -66 dBFS), 56.4 % 55 dB lower (-71 dBFS) and
33.2 % 60 dB lower (``kws-train robustness --levels=-40,-45,-50,-55,-60``, BENCHMARKS.md). Set it
again from those figures when the shipped model or its front end changes."""

QUIET_SPAN_S = 3.0  # stream seconds whose loudest hop decides "too quiet" (and the listening needed first)


def level_db(x: np.ndarray) -> float:
    """RMS level of ``x`` in dBFS, never below :data:`FLOOR_DBFS` (which empty input reads as)."""
    if not len(x):
        return FLOOR_DBFS
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return max(FLOOR_DBFS, float(20.0 * np.log10(rms))) if rms > 0 else FLOOR_DBFS


def too_quiet(peak_dbfs: float) -> bool:
    """Whether speech whose loudest 100 ms reads ``peak_dbfs`` is too quiet for the model."""
    return bool(peak_dbfs < TOO_QUIET_DBFS)  # a plain bool: Qt refuses numpy's
