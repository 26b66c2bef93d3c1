"""The window's behaviour for issue 21 (and issue 20's window points), offscreen and without an
engine: hops and detections are fed in as the bridge delivers them, so nothing here waits on
TensorFlow or on the clock."""
from __future__ import annotations

import csv
import os
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PyQt6 import QtCore, QtWidgets  # noqa: E402

from kwsapp.gui.engine_api import SourceSpec  # noqa: E402
from kwsapp.gui.settings import Store, open_settings  # noqa: E402


@pytest.fixture
def store(tmp_path):
    return Store(open_settings(str(tmp_path / "settings.ini")))


@pytest.fixture
def window(qtbot, store, model_dir):
    from kwsapp.gui.window import MainWindow

    w = MainWindow(store, model_dir=model_dir, autostart=False)
    qtbot.addWidget(w)
    w.show()
    yield w
    w.shutdown()


def hop(w, t: float, **scores) -> SimpleNamespace:
    """A hop as the engine sends it: ``scores`` set those labels' smoothed scores, the rest share what is left."""
    labels = w.model_config.labels
    rest = (1.0 - sum(scores.values())) / (len(labels) - len(scores))
    smoothed = np.array([scores.get(l, rest) for l in labels], np.float32)
    return SimpleNamespace(stream_time_s=t, smoothed=smoothed, scores=smoothed, level_db=-30.0,
                           columns=np.zeros((0, w.model_config.features.num_mel_bins), np.float32),
                           model_ms=1.0, overflows=0)


def detection(t: float, label: str, score: float) -> SimpleNamespace:
    return SimpleNamespace(stream_time_s=t, label=label, score=score)


# ---------------------------------------------------------------- one figure per detection
def test_detection_reports_its_peak_in_readout_history_and_csv(window, tmp_path):
    w = window
    w._on_hop(hop(w, 1.0, yes=0.56))
    w._on_detection(detection(1.0, "yes", 0.56))  # crossed the threshold here ...
    assert w.readout.confidence.text() == "score 0.56"
    for t, s in ((1.1, 0.80), (1.2, 0.95), (1.3, 0.90)):  # ... and rose on to 0.95
        w._on_hop(hop(w, t, yes=s))
    assert w.readout.confidence.text() == "score 0.95"  # updated while it rose
    assert w.history.rows[-1].score == pytest.approx(0.95) and w.history.table.item(0, 3).text() == "0.95"
    assert w.readout.shown == [("yes", pytest.approx(0.95))]
    w._on_hop(hop(w, 1.4, _silence_=0.9))  # the word is over
    w._on_hop(hop(w, 1.5, yes=0.97))  # a later rise without a detection is not this detection's
    assert w.history.rows[-1].score == pytest.approx(0.95)
    w.history.save(str(tmp_path / "d.csv"))
    with open(tmp_path / "d.csv") as f:
        row = next(r for r in csv.DictReader(f))
    assert row["score"] == "0.950"
