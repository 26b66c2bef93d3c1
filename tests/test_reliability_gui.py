"""Reliability (issue 6) in the window: bad WAV files opened from the menu, model folders
whose config does not match the weights, close / Ctrl-C / SIGTERM while the model is
mid-inference, and nothing the user had (history CSV, settings, model folders) damaged."""
from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import pytestqt  # noqa: F401  (plain import: a missing pytest-qt must fail, not skip)
from PyQt6 import QtWidgets  # noqa: E402

from kwsapp.core.errors import KwsError  # noqa: E402
from kwsapp.core.smoothing import SmoothingConfig  # noqa: E402
from kwsapp.core.wavio import resample  # noqa: E402
from kwsapp.gui.listening.engine_api import SourceSpec  # noqa: E402
from kwsapp.gui.live.history import write_csv  # noqa: E402
from kwsapp.gui.settings.store import Store, open_settings  # noqa: E402
from tests.test_gui import build_words_wav, make_window, our_threads, store  # noqa: E402,F401
from tests.test_reliability import MODEL_CASES, SLOW, _bad_wavs, _damage, _slow_scores, digest  # noqa: E402
from tests.test_wavio import _wav_bytes  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def open_from_menu(w, monkeypatch, path):
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), "WAV files"))
    w.open_wav()


def settled(w):
    return w.banner.isVisible() and w.controller.engine is None and not any(t.is_alive() for t in w.controller.starters)


@pytest.mark.parametrize("case", ["empty", "not-wav", "truncated-data", "zero-length", "nan", "directory"])
def test_open_wav_with_a_bad_file_explains_and_keeps_the_window(make_window, qtbot, monkeypatch, tmp_path,
                                                               model_dir, case):
    p = tmp_path / f"{case}.wav"
    if case == "directory":
        p.mkdir()
        words = "is a directory"
    else:
        data, words = _bad_wavs(tmp_path)[case]
        p.write_bytes(data)
    w = make_window(model_dir=model_dir, autostart=False)
    t0 = time.monotonic()
    open_from_menu(w, monkeypatch, p)
    qtbot.waitUntil(lambda: settled(w), timeout=10000)
    assert time.monotonic() - t0 < 3  # said before any model is loaded
    text = w.banner.text.text()
    assert str(p) in text and words in text and "Traceback" not in text
    assert w.banner.wav_button.isVisible()  # the way out: another file (or a device)
    assert w.isVisible() and w.start_action.text() == "Start"
    assert not [t for t in our_threads() if t.name == "kws-engine"]


def test_open_wav_in_an_unusual_format_is_heard(make_window, qtbot, monkeypatch, tmp_path, data_dir, model_dir):
    src = str(tmp_path / "yes16.wav")
    build_words_wav(data_dir, src, words=("yes",))
    from kwsapp.core.wavio import load_audio

    x = resample(load_audio(src), 16000, 44100)
    p = tmp_path / "yes-24bit-44k-stereo.wav"
    p.write_bytes(_wav_bytes(np.stack([x, 0.8 * x], axis=1), 44100, 1, 24))
    w = make_window(model_dir=model_dir, autostart=False)
    open_from_menu(w, monkeypatch, p)
    qtbot.waitUntil(lambda: w.status_line.state_label.text().startswith("finished"), timeout=30000)
    assert w.history.commands() == ["yes"] and not w.banner.isVisible()


@pytest.mark.parametrize("how", ["labels", "features", "no-weights", "corrupt-tflite"])
def test_model_folder_that_does_not_match_its_weights(make_window, qtbot, tmp_path, data_dir, model_dir, store,
                                                      how):
    folder = tmp_path / "mymodel"
    shutil.copytree(model_dir, folder)
    _damage(folder, how)
    before, bundled = digest(folder), digest(model_dir)
    wav = str(tmp_path / "yes.wav")
    build_words_wav(data_dir, wav, words=("yes",))
    w = make_window(spec=SourceSpec("file", path=wav), model_dir=str(folder))
    qtbot.waitUntil(lambda: settled(w), timeout=30000)
    text = w.banner.text.text()
    # Named, with what is wrong; `make model` is advice for the bundled folder only (issue 21).
    assert f"no model in {folder}" in text and "make model" not in text
    assert all(words in text for words in MODEL_CASES[how]), text
    assert w.banner.model_button.isVisible() and w.isVisible()
    assert digest(folder) == before and digest(model_dir) == bundled
    w.set_model_dir(str(folder))  # chosen in the window: its weights fail again ...
    qtbot.waitUntil(lambda: settled(w), timeout=30000)
    assert store.model_dir != str(folder)  # ... so it is not remembered for the next start
    w.set_model_dir(model_dir)  # the way out works: the bundled model runs the same file
    qtbot.waitUntil(lambda: "yes" in w.history.commands(), timeout=30000)


def test_close_while_the_model_is_mid_inference(qtbot, store, monkeypatch, data_dir, model_dir, tmp_path):
    from kwsapp.gui.window import MainWindow

    wav = str(tmp_path / "words.wav")
    build_words_wav(data_dir, wav)
    inside = _slow_scores(monkeypatch)
    w = MainWindow(store, spec=SourceSpec("file", path=wav, realtime=True), model_dir=model_dir)
    w.show()
    qtbot.waitUntil(lambda: w.controller.engine is not None, timeout=30000)
    inside.clear()
    qtbot.waitUntil(inside.is_set, timeout=5000)
    time.sleep(SLOW / 4)  # inside the (slow) model call
    engine = w.controller.engine
    t0 = time.monotonic()
    w.close()
    assert time.monotonic() - t0 < 1.0 + 0.1
    assert not engine.running and our_threads() == []


SLOW_GUI = f"""
import sys, time
from kwsapp.core.recognizer import Recognizer
real = Recognizer.__call__
def slow(self, window):
    if getattr(self, "_warm", False):
        print("inference", file=sys.stderr, flush=True)
        time.sleep({SLOW})
    self._warm = True
    return real(self, window)
Recognizer.__call__ = slow
from kwsapp.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_app_exits_cleanly_on_signal_mid_inference_keeping_settings(tmp_path, data_dir, model_dir, sig):
    wav = str(tmp_path / "words.wav")
    build_words_wav(data_dir, wav)
    ini = str(tmp_path / "settings.ini")
    s = Store(open_settings(ini))
    s.device = "USB mic"
    s.set_smoothing(SmoothingConfig(detection_threshold=0.65))
    s.sync()
    env = dict(os.environ, PYTHONPATH=ROOT, QT_QPA_PLATFORM="offscreen", KWSAPP_SETTINGS=ini)
    p = subprocess.Popen([sys.executable, "-c", SLOW_GUI, "--input", wav, "--model", model_dir],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True, cwd=ROOT)
    err = ""
    deadline = time.monotonic() + 60
    while "inference" not in err and time.monotonic() < deadline and p.poll() is None:
        err += p.stderr.readline()
    assert "inference" in err, err
    time.sleep(SLOW / 4)
    p.send_signal(sig)
    # The window never closes by itself (a finished file leaves it open), so exiting at all is
    # the signal's doing; the timeout only bounds a hang. No bound on the exit time: with the
    # cores shared five ways TensorFlow's teardown alone took up to 7 s (a benchmark's concern).
    _, rest = p.communicate(timeout=30)
    assert p.returncode == 0 and "Traceback" not in rest, rest
    again = Store(open_settings(ini))
    assert again.device == "USB mic"
    assert again.smoothing(SmoothingConfig).detection_threshold == pytest.approx(0.65)
    assert again.geometry() is not None  # the normal close path ran (it saves the window size)


_csv_writer = csv.writer


class _DiskFull:
    """A csv writer whose second row fails the way a full disk does."""

    def __init__(self, f):
        self.real = _csv_writer(f)
        self.n = 0

    def writerow(self, row):
        self.n += 1
        if self.n == 3:
            raise OSError(28, "No space left on device")
        self.real.writerow(row)


def test_failed_history_save_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    from kwsapp.gui.live import history
    from kwsapp.gui.live.history import HistoryRow

    path = tmp_path / "detections.csv"
    old = [HistoryRow("2024-05-01T12:00:00.000", 1.0, "yes", 0.9)]
    write_csv(str(path), old)
    before = path.read_bytes()
    rows = old + [HistoryRow("2024-05-01T12:00:01.000", 2.0, "no", 0.8)] * 5
    monkeypatch.setattr(history.csv, "writer", _DiskFull)
    with pytest.raises(KwsError) as e:
        write_csv(str(path), rows)
    assert str(path) in str(e.value) and "No space left on device" in str(e.value)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["detections.csv"]
    monkeypatch.setattr(history.csv, "writer", lambda f: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):  # even an interrupted save leaves no half file behind
        write_csv(str(path), rows)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["detections.csv"]
    monkeypatch.undo()
    write_csv(str(path), rows)  # and a save that works replaces it whole
    with open(path) as f:
        assert len(list(csv.reader(f))) == 1 + len(rows)


def test_errors_in_the_window_leave_the_users_settings(qtbot, tmp_path, model_dir, data_dir):
    from kwsapp.gui.window import MainWindow

    ini = str(tmp_path / "s.ini")
    s = Store(open_settings(ini))
    s.device = "USB mic"
    s.set_smoothing(SmoothingConfig(detection_threshold=0.7, suppression_ms=900.0))
    s.sync()
    before = open(ini).read()
    w = MainWindow(Store(open_settings(ini)), spec=SourceSpec("mic", device="no such microphone 1234"),
                   model_dir=model_dir)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: settled(w), timeout=30000)  # the device is missing
    bad = tmp_path / "not-a-model"
    bad.mkdir()
    assert not w.set_model_dir(str(bad))  # a folder without config.json is refused
    w.start(SourceSpec("file", path=str(tmp_path / "missing.wav")))
    qtbot.waitUntil(lambda: settled(w), timeout=10000)
    w.close()
    again = Store(open_settings(ini))
    assert again.device == "USB mic" and again.model_dir is None
    cfg = again.smoothing(SmoothingConfig)
    assert cfg.detection_threshold == 0.7 and cfg.suppression_ms == 900.0
    # only the window geometry was added; nothing the user set was rewritten
    assert all(line in open(ini).read() for line in before.splitlines() if "=" in line)
