"""kwsapp/core/levels.py: the one level_db (engine hops, the voice recorder's meter) and the
too-quiet line shared by the window's hint and the docs."""
from __future__ import annotations

import numpy as np

from kwsapp.core.levels import FLOOR_DBFS, TOO_QUIET_DBFS, level_db, too_quiet


def test_level_db_is_rms_in_dbfs_with_one_floor():
    sine = 0.1 * np.sin(np.arange(16000) / 3.0)
    assert abs(level_db(sine) - 20 * np.log10(0.1 / np.sqrt(2))) < 0.05
    assert abs(level_db(np.full(160, 0.5, np.float32)) - 20 * np.log10(0.5)) < 1e-4
    assert level_db(np.zeros(100)) == level_db(np.zeros(0)) == level_db(np.full(10, 1e-9)) == FLOOR_DBFS


def test_too_quiet_is_below_the_one_line():
    assert too_quiet(TOO_QUIET_DBFS - 0.1) and not too_quiet(TOO_QUIET_DBFS) and not too_quiet(-30.0)


def test_the_engine_and_the_recorder_read_levels_alike():
    from kwsapp.core import detector
    from kwsapp.gui.voice import recorder

    x = np.random.default_rng(0).normal(0, 0.01, 1600).astype(np.float32)
    assert detector.level_db(x) == recorder.level_db(x) == level_db(x)


def test_the_docs_state_the_same_line():
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for doc in ("README.md", os.path.join("docs", "usage.md")):
        with open(os.path.join(root, doc)) as f:
            assert f"below {TOO_QUIET_DBFS:g} dBFS" in f.read(), doc


def test_levels_and_the_quiet_answer_are_plain_python_values():
    # Qt's setVisible refuses numpy's bool (a crash in the hop handler once).
    x = np.full(1600, 0.001, np.float32)
    assert type(level_db(x)) is float
    assert type(too_quiet(np.float64(-70.0))) is bool
