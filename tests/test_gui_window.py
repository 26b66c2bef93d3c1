"""The window's behaviour for issue 21 (and issue 20's window points), offscreen and without an
engine: hops and detections are fed in as the bridge delivers them, so nothing here waits on
TensorFlow or on the clock."""
from __future__ import annotations

import csv
import dataclasses
import os
from types import SimpleNamespace

import numpy as np
import pytest
import pytestqt  # noqa: E402,F401  (a missing pytest-qt must fail, not skip these tests)
from PyQt6 import QtCore, QtGui, QtWidgets  # noqa: E402

from kwsapp.gui.listening.bridge import Heard  # noqa: E402
from kwsapp.gui.listening.engine_api import SourceSpec  # noqa: E402
from kwsapp.gui.settings.store import Store, open_settings  # noqa: E402


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


def detection(t: float, label: str, score: float):
    from kwsapp.core.detector import Detection

    return Detection(t, label, score)  # what the engine sends


# ---------------------------------------------------------------- one figure per detection
def test_detection_reports_its_peak_in_readout_history_and_csv(window, tmp_path):
    w = window
    w._on_hop(hop(w, 1.0, yes=0.56))
    w._on_heard(Heard(detection(1.0, "yes", 0.56)))  # crossed the threshold here ...
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


# ---------------------------------------------------------------- history
def _top_visible(h) -> str:
    return " ".join(h.table.item(h.table.rowAt(0), c).text() for c in (0, 1))


def test_history_follows_newest_unless_scrolled_away(qtbot):
    from kwsapp.gui.live.history import HistoryTable

    h = HistoryTable()
    qtbot.addWidget(h)
    h.resize(500, 200)
    h.show()
    for i in range(40):
        h.add(float(i), "yes", 0.9)
    QtWidgets.QApplication.processEvents()  # lays the table out: the scroll range is known
    assert h.following and h.table.item(h.table.rowAt(0), 1).text() == "39.00"  # the newest is in view
    h.table.verticalScrollBar().setValue(10)  # the user scrolls down to read older rows
    assert h.table.verticalScrollBar().value() == 10
    reading = _top_visible(h)
    h.add(40.0, "no", 0.9)
    assert _top_visible(h) == reading and not h.following  # what they read stays put
    h.table.scrollToTop()
    h.add(41.0, "go", 0.9)
    assert h.table.item(h.table.rowAt(0), 1).text() == "41.00"


def test_history_has_source_and_model_columns_and_marks_input_changes(qtbot, tmp_path):
    from kwsapp.gui.live.history import HistoryTable

    h = HistoryTable()
    qtbot.addWidget(h)
    h.add(1.0, "yes", 0.9, source="a.wav", model="bundled", session=1)
    h.add(2.0, "no", 0.8, source="a.wav", model="bundled", session=1)
    assert h.markers() == []
    h.add(0.5, "go", 0.7, source="default microphone", model="bundled", session=2)
    h.add(0.7, "up", 0.7, source="default microphone", model="my-voice", session=3)
    assert h.markers() == ["▲ from here: input default microphone (stream time from 0)",
                           "▲ from here: model my-voice (stream time from 0)"][::-1]
    headers = [h.table.horizontalHeaderItem(c).text() for c in range(h.table.columnCount())]
    assert headers[4:] == ["source", "model", "mark"]
    assert h.table.item(0, 4).text() == "default microphone" and h.table.item(0, 5).text() == "my-voice"
    h.save(str(tmp_path / "d.csv"))
    with open(tmp_path / "d.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0][4:] == ["source", "model", "clip", "mark", "marked_as"]
    assert len(rows) == 5  # markers are not detections
    assert rows[1][4:6] == ["a.wav", "bundled"] and rows[4][4:6] == ["default microphone", "my-voice"]


def test_window_tags_detections_with_source_and_model(window, qtbot):
    w = window
    w.spec = SourceSpec("file", path="/some/where/words.wav")
    w._on_heard(Heard(detection(1.0, "yes", 0.9)))
    row = w.history.rows[-1]
    assert (row.source, row.model) == ("words.wav", "bundled")


# ---------------------------------------------------------------- menus, the active model, About
def test_menu_bar_holds_every_action_with_its_shortcut(window):
    w = window
    menus = {m.title().replace("&", ""): m for m in (a.menu() for a in w.menuBar().actions()) if m}
    assert list(menus) == ["File", "Listen", "Model", "Settings", "Help"]
    in_menus = {a for m in menus.values() for a in m.actions() if not a.isSeparator()}
    toolbar = w.findChild(QtWidgets.QToolBar)
    buttons = [a for a in toolbar.actions() if not a.isSeparator() and not isinstance(
        toolbar.widgetForAction(a), (QtWidgets.QLabel, QtWidgets.QComboBox, QtWidgets.QDoubleSpinBox))]
    assert buttons and set(buttons) <= in_menus  # no action lives only in the toolbar
    for a in (w.open_action, w.model_action, w.bundled_action, w.voice_action, w.settings_action,
              w.save_action, w.clear_action, w.quit_action, w.about_action, w.devices_action):
        assert a in in_menus, a.text()
    shortcuts = {a.text(): a.shortcut().toString() for a in in_menus}
    # Every shortcut is the window's own action (QWidget.actions(), not hidden by an attribute),
    # so it works whether or not a menu shows it.
    assert in_menus <= set(w.actions())
    assert shortcuts["Quit"] == "Ctrl+Q" and shortcuts["Settings…"] == "Ctrl+," and shortcuts["Start"] == "Space"
    w.settings_action.trigger()  # a menu entry does what the toolbar button did
    assert w.settings_panel.isVisible()
    w.settings_panel.reject()


def test_window_with_a_verifier_says_so_and_gives_it_to_its_engine(qtbot, store, model_dir, tmp_path, monkeypatch):
    from kwsapp.core.errors import KwsError
    from kwsapp.core.verifier import BUNDLED_VERIFIER_DIR
    from kwsapp.core.wavio import write_wav
    from kwsapp.gui.listening import engine_api
    from kwsapp.gui.window import MainWindow

    asked = []

    def make_engine(*args):  # records what the window asks for; no engine is needed here
        asked.append(args)
        raise KwsError("no engine in this test")

    monkeypatch.setattr(engine_api, "make_engine", make_engine)
    w = MainWindow(store, model_dir=model_dir, autostart=False, verifier=BUNDLED_VERIFIER_DIR)
    qtbot.addWidget(w)
    assert "model: bundled + check" in w.windowTitle() and BUNDLED_VERIFIER_DIR in w.status_line.model_label.toolTip()
    wav = str(tmp_path / "s.wav")
    write_wav(wav, np.zeros(16000, np.float32))
    w.start(SourceSpec("file", path=wav))
    qtbot.waitUntil(lambda: bool(asked), timeout=5000)
    assert asked[0][-1] == BUNDLED_VERIFIER_DIR  # the engine is built with the check
    updated = []
    w.controller.engine = SimpleNamespace(update_settings=updated.append, stop=lambda: None)
    w.set_smoothing(dataclasses.replace(w.smoothing, detection_threshold=0.7))  # the user moves the threshold
    assert updated[-1].verifier == BUNDLED_VERIFIER_DIR and updated[-1].smoothing.detection_threshold == 0.7
    w.controller.engine = None
    w.close()


def test_active_model_shown_in_title_status_bar_and_about(window, tmp_path, model_dir):
    from conftest import copy_model

    w = window
    assert "model: bundled" in w.windowTitle() and "yes" in w.windowTitle()
    assert w.status_line.model_label.text() == "model: bundled"
    mine = copy_model(model_dir, str(tmp_path / "my-voice-1"))
    assert w.set_model_dir(mine)
    assert "model: my-voice-1" in w.windowTitle() and w.status_line.model_label.text() == "model: my-voice-1"
    assert mine in w.status_line.model_label.toolTip() and "stop" in w.status_line.model_label.toolTip()
    w.about_action.trigger()
    text = w.about_dialog.text.text()
    from kwsapp import __version__

    assert f"kwsapp {__version__}" in text and "my-voice-1" in text and "Words: yes, no" in text
    assert "Python" in text and "Qt" in text
    assert "model my-voice-1" in w.about_dialog.log.toPlainText()  # the session's log
    w.about_dialog.reject()


# ---------------------------------------------------------------- a folder without a usable model
def test_empty_model_folder_keeps_the_running_model_and_says_so(window, tmp_path, model_dir):
    w = window
    w._running = True  # as while listening (no engine is needed to see what the window says)
    w.start_action.setText("Stop")
    w.status_line.state_label.setText("listening: default microphone")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not w.set_model_dir(str(empty))
    text = w.banner.text.text()
    assert w.banner.isVisible()
    assert text.startswith(f"no model in {empty} (") and text.endswith("— still using bundled"), text
    assert "make model" not in text
    assert w.model_dir == model_dir and "model: bundled" in w.windowTitle()
    # Button and status bar agree: still listening.
    assert w.start_action.text() == "Stop" and w.status_line.state_label.text() == "listening: default microphone"


def test_model_whose_weights_fail_to_load_falls_back_to_the_previous_one(window, tmp_path, model_dir):
    import shutil

    from kwsapp.core.errors import ModelError

    w = window
    requests = []
    w.controller.request = lambda spec, *_: requests.append(spec)  # the starter thread is not needed: its error is delivered below
    bad = tmp_path / "half-copied"
    bad.mkdir()
    shutil.copy(os.path.join(model_dir, "config.json"), bad)
    assert w.set_model_dir(str(bad)) and w._running  # the config reads; the weights are tried on loading
    w.status_line.model_ms_label.setText("3.1 ms")
    w._on_error(ModelError(f"{bad}/model.tflite is corrupt (ValueError); rebuild it with `make model` "
                           "(see assets/model/README.md)"))
    text = w.banner.text.text()
    assert w.banner.isVisible()
    assert text.startswith(f"no model in {bad} (") and "still using bundled" in text and "make model" not in text
    assert w.model_dir == model_dir and w.store.model_dir is None
    assert w._running and w.start_action.text() == "Stop" and requests[-1] == w.spec  # listening again
    assert w.status_line.model_ms_label.text() == "– ms"  # no figure of the engine that failed stays up


# ---------------------------------------------------------------- settings
def test_settings_panel_explains_fields_and_says_restore_needs_apply(qtbot):
    from kwsapp.core.smoothing import SmoothingConfig
    from kwsapp.gui.settings.panel import SmoothingPanel

    panel = SmoothingPanel(SmoothingConfig(detection_threshold=0.8), defaults=SmoothingConfig())
    qtbot.addWidget(panel)
    form = panel.findChild(QtWidgets.QFormLayout)
    labels = {form.itemAt(r, QtWidgets.QFormLayout.ItemRole.LabelRole).widget().text(): form.itemAt(
        r, QtWidgets.QFormLayout.ItemRole.FieldRole).widget() for r in range(form.rowCount())}
    assert "average window" in labels and labels["average window"].suffix() == " ms"  # 'ms' once
    assert not any(name.endswith(" ms") for name in labels)
    for name in ("suppression", "minimum count", "average window", "detection threshold"):
        tip = labels[name].toolTip()
        assert len(tip) > 40 and "_" not in tip, name  # a sentence in plain words
    got = []
    panel.applied.connect(got.append)
    box = panel.findChild(QtWidgets.QDialogButtonBox)
    box.button(QtWidgets.QDialogButtonBox.StandardButton.RestoreDefaults).click()
    assert panel.editors["detection_threshold"].value() == pytest.approx(0.45) and got == []
    assert "Apply" in panel.note.text()  # nothing is in use until Apply/OK
    box.button(QtWidgets.QDialogButtonBox.StandardButton.Apply).click()
    assert got[-1].detection_threshold == pytest.approx(0.45) and panel.note.text() == ""


# ---------------------------------------------------------------- inputs
def test_input_list_is_default_first_then_real_devices_by_name(window, monkeypatch):
    from kwsapp.audio.devices import DeviceInfo
    from kwsapp.gui.listening import engine_api

    found = [DeviceInfo(0, "pulse", 32, 44100.0, False), DeviceInfo(1, "default", 32, 44100.0, True),
             DeviceInfo(2, "USB Mic: Audio (hw:2,0)", 1, 48000.0, False),
             DeviceInfo(3, "HDA Intel PCH: ALC269 Analog (hw:0,0)", 2, 44100.0, False)]
    monkeypatch.setattr(engine_api, "list_devices", lambda rescan=False: found)
    w = window
    w.refresh_devices()
    texts = [w.device_combo.itemText(i) for i in range(w.device_combo.count()) if w.device_combo.itemText(i)]
    assert texts == ["System default input", "HDA Intel PCH: ALC269 Analog (hw:0,0)", "USB Mic: Audio (hw:2,0)",
                     "PulseAudio sound server"]  # one name per device, no bare indexes, no second 'default'
    i = w.device_combo.findText("USB Mic: Audio (hw:2,0)")
    assert w.device_combo.itemData(i) == "USB Mic: Audio (hw:2,0)"  # chosen by name: survives replugging


# ---------------------------------------------------------------- quitting
def test_quit_ends_the_process_without_interpreter_teardown(qtbot, tmp_path, monkeypatch):
    """Ctrl+Q: the window closes the normal way (settings saved), then the process ends at once
    instead of waiting seconds for TensorFlow's native teardown, even with another window of the
    app still open (a window another test left open once kept Qt's loop, and CI, running forever)."""
    import signal

    from kwsapp.gui import app

    ini = str(tmp_path / "s.ini")
    monkeypatch.setenv("KWSAPP_SETTINGS", ini)
    monkeypatch.setattr(signal, "signal", lambda *a: None)  # the test's own handlers stay
    exits = []
    monkeypatch.setattr(app, "exit_now", exits.append)

    def press_ctrl_q():
        from PyQt6 import QtGui

        win = next(w for w in QtWidgets.QApplication.topLevelWidgets() if hasattr(w, "quit_action"))
        assert win.quit_action.shortcut() == QtGui.QKeySequence("Ctrl+Q")
        other.show()  # a second top-level window: Qt alone would keep running for it
        win.quit_action.trigger()

    other = QtWidgets.QWidget()
    other.setWindowTitle("another window")
    QtCore.QTimer.singleShot(0, press_ctrl_q)
    wav = tmp_path / "x.wav"
    from kwsapp.core.wavio import write_wav

    write_wav(str(wav), np.zeros(16000, np.float32))
    code = app.run(SimpleNamespace(input=str(wav), device=None, model=str(tmp_path / "no-model")))
    assert exits == [code] == [0]
    assert Store(open_settings(ini)).geometry() is not None  # closed the normal way first
    other.close()


def test_collection_runs_only_in_the_gui_thread_while_the_window_is_open(qtbot, store, model_dir):
    # A collection started by the audio or engine thread would delete Qt objects of collected
    # cycles from that thread while the GUI thread paints (a segfault seen in the suite).
    import gc
    import threading
    import weakref

    from kwsapp.gui import gcguard
    from kwsapp.gui.window import MainWindow

    in_gui_thread = []

    def seen(phase, info):
        if phase == "start":
            in_gui_thread.append(threading.current_thread() is threading.main_thread())

    gc.callbacks.append(seen)
    try:
        w = MainWindow(store, model_dir=model_dir, autostart=False)
        qtbot.addWidget(w)
        assert gcguard.active() and not gc.isenabled()

        def allocate():  # what a worker does all the time; far past a generation-0 threshold
            for _ in range(20000):
                a = []
                a.append(a)

        t = threading.Thread(target=allocate)
        t.start()
        t.join()
        assert in_gui_thread == []  # nothing collected from that thread

        class Cycle:
            pass

        c = Cycle()
        c.me = c
        gone = weakref.ref(c)
        del c
        qtbot.waitUntil(lambda: gone() is None, timeout=5000)  # the GUI thread's timer collects
        assert in_gui_thread and all(in_gui_thread)
        w.close()
        assert not gcguard.active() and gc.isenabled()  # closed: automatic again
    finally:
        gc.callbacks.remove(seen)
        gc.enable()


# ---------------------------------------------------------------- small things
def test_save_csv_confirms_and_dialogs_start_in_the_last_or_home_folder(window, tmp_path, monkeypatch):
    w = window
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    asked = []
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName",
                        lambda parent, title, start, filt: asked.append(start) or (str(out / "d.csv"), ""))
    w.history.folder = w.store.start_folder("csv_folder")
    w._on_heard(Heard(detection(1.0, "yes", 0.9)))
    w.save_action.trigger()
    assert os.path.dirname(asked[0]) == str(home)  # the home folder, not the working folder
    assert w.statusBar().currentMessage() == f"Saved 1 detection to {out / 'd.csv'}"
    w.save_action.trigger()
    assert os.path.dirname(asked[1]) == str(out) and w.store.csv_folder == str(out)  # the last one used

    opened = []
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName",
                        lambda parent, title, start, filt: opened.append(start) or ("", ""))
    w.open_wav()
    assert opened == [str(home)]
    w.store.wav_folder = str(wavs)
    w.open_wav()
    assert opened[-1] == str(wavs)
    chosen = []
    monkeypatch.setattr(QtWidgets.QFileDialog, "getExistingDirectory",
                        lambda parent, title, start: chosen.append(start) or "")
    w.choose_model()
    assert chosen == [str(home)]  # not the app's own (bundled) model folder


def test_space_starts_and_stops_while_the_threshold_box_has_focus(window, qtbot):
    from PyQt6.QtTest import QTest

    w = window
    requests = []
    w.controller.request = lambda spec, *_: requests.append(spec)  # no engine needed: Start/Stop is what is checked
    w.activateWindow()
    w.threshold_spin.setFocus()
    qtbot.waitUntil(lambda: w.threshold_spin.hasFocus(), timeout=2000)
    before = w.threshold_spin.value()
    QTest.keyClick(w.threshold_spin.lineEdit(), QtCore.Qt.Key.Key_Space)
    assert w._running and w.start_action.text() == "Stop" and requests == [w.spec]
    QTest.keyClick(w.threshold_spin.lineEdit(), QtCore.Qt.Key.Key_Space)
    assert not w._running and requests == [w.spec, None]
    assert w.threshold_spin.value() == before


# ---------------------------------------------------------------- the level meter
def _hops_at(w, level_db: float, start: float, seconds: float):
    """Hops of 100 ms at ``level_db`` from stream time ``start`` on, as the engine sends them."""
    for k in range(1, round(seconds / 0.1) + 1):
        r = hop(w, round(start + 0.1 * k, 3), yes=0.1)
        r.level_db = level_db
        w._on_hop(r)
    return round(start + seconds, 3)


def test_a_quiet_input_gets_a_hint_that_goes_when_the_level_comes_back(window):
    from kwsapp.core.levels import QUIET_SPAN_S, TOO_QUIET_DBFS
    from kwsapp.gui.live.quiethint import HINT

    w, hint = window, window.quiet_hint
    quiet, normal = TOO_QUIET_DBFS - 10.0, TOO_QUIET_DBFS + 20.0  # below the line, and a word above it
    t = _hops_at(w, quiet, 0.0, QUIET_SPAN_S - 0.3)
    assert not hint.isVisible()  # not in the first seconds of listening
    t = _hops_at(w, quiet, t, 0.5)
    assert hint.isVisible() and hint.text() == HINT == "Input is very quiet: speak closer or raise the input gain"
    assert HINT in w.messages[-1]  # in Help → About's log too
    t = _hops_at(w, normal, t, 0.1)  # one word at a normal level
    assert not hint.isVisible()
    t = _hops_at(w, quiet, t, QUIET_SPAN_S - 0.2)
    assert not hint.isVisible()  # that word is still within the last seconds: a pause, not a quiet input
    t = _hops_at(w, quiet, t, 0.3)
    assert hint.isVisible()
    w.stop()  # stopped: no live figures, no hint
    assert not hint.isVisible()
    _hops_at(w, quiet, 0.0, 1.0)  # a new stream starts its own count
    assert not hint.isVisible()


def test_level_meter_follows_every_hop_with_peak_hold(window):
    from kwsapp.core.levels import TOO_QUIET_DBFS
    from kwsapp.gui.live.levelmeter import FLOOR_DB, HOLD_S

    assert FLOOR_DB < TOO_QUIET_DBFS  # the meter shows the range down to the "too quiet" line

    w, m = window, window.status_line.level_meter
    w._on_hop(hop(w, 1.0, yes=0.5))  # hops carry level_db -30 (a word in a file or from a microphone)
    assert m.level == -30 and m.peak == -30
    quiet = hop(w, 1.1, yes=0.5)
    quiet.level_db = -120.0  # the gap after the word (digital silence in a file)
    w._on_hop(quiet)
    assert m.level == FLOOR_DB and m.peak == -30 and "peak -30" in m.text()  # held ...
    quiet.stream_time_s = 1.0 + HOLD_S + 0.1
    w._on_hop(quiet)
    assert m.peak == FLOOR_DB  # ... for HOLD_S of stream time, then it follows the input down
    w._on_hop(hop(w, 3.0, yes=0.5))
    w.stop()
    assert m.level == FLOOR_DB and m.text() == "level –"  # stopped: no stale level


# ---------------------------------------------------------------- 800x600
def _drawn_tick_labels(view):
    img = QtGui.QImage(10, 10, QtGui.QImage.Format.Format_RGB32)
    p = QtGui.QPainter(img)
    try:
        _, _, texts = view.getAxis("bottom").generateDrawSpecs(p)
    finally:
        p.end()
    return [(rect, text) for rect, _, text in texts]


def test_layout_holds_at_800x600(window, store):
    w = window
    w.resize(800, 600)
    long_path = "/home/someone/recordings/a-rather-long-folder-name/commands-recorded-in-the-kitchen.wav"
    w.spec = SourceSpec("file", path=long_path)
    engine = SimpleNamespace(device="CPU", source=SimpleNamespace(describe=lambda: f"file {long_path}",
                                                                 native_rate=16000))
    w.controller.engine = engine
    try:
        _check_800x600(w, engine, long_path)
    finally:
        w.controller.engine = None


def _check_800x600(w, engine, long_path):
    w._on_ready(engine)
    w._on_hop(hop(w, 1.0, yes=0.5))
    w.status_line.refresh(w._latest, w.controller.engine)
    w.status_line.model_label.setText("model: my-voice-20260101-1200")
    w.grab()  # paint once: the chart's axis makes room for its labels
    QtWidgets.QApplication.processEvents()
    assert (w.width(), w.height()) == (800, 600)

    drawn = _drawn_tick_labels(w.scores)
    assert sorted(t.strip() for _, t in drawn) == sorted(l.strip("_") for l in w.scores.labels)  # all shown
    fm = QtGui_metrics(w.scores)
    axis = w.scores.getAxis("bottom")
    line = QtGui.QFontMetrics(axis.style["tickFont"]).height()
    for r, t in drawn:  # each name, on its line, lies inside the axis (not cut off at its bottom)
        assert r.top() + line * (1 + t.count("\n")) <= axis.geometry().height(), (t, r, axis.geometry())
    for row in (False, True):  # names on the same line never touch
        spans = sorted((r.center().x() - fm(t) / 2, r.center().x() + fm(t) / 2)
                       for r, t in drawn if t.startswith("\n") == row)
        assert all(a[1] < b[0] for a, b in zip(spans, spans[1:])), spans

    sb = w.statusBar()
    state = w.status_line.state_label
    assert state.text() == "listening: commands-recorded-in-the-kitchen.wav" and long_path in state.toolTip()
    assert state.shown() == state.text()  # all of it fits (a longer one would end in "…", never be cut)
    for widget in (w.status_line.model_label, w.status_line.level_meter, w.status_line.model_ms_label, w.status_line.device_label):
        assert widget.isVisible() and widget.geometry().right() <= sb.width(), widget
        if isinstance(widget, QtWidgets.QLabel):
            assert widget.width() >= widget.fontMetrics().horizontalAdvance(widget.text()), widget.text()
    w.show_problem("A problem banner across the top takes room from the views. " * 3)
    QtWidgets.QApplication.processEvents()
    left = w.spectrogram.getAxis("left")
    title = left.label.boundingRect().width()  # drawn turned by 90 degrees: its width runs up the view
    assert title <= w.spectrogram.getViewBox().height(), (left.labelText, title)
    state.setText("listening: " + long_path)
    assert state.shown().startswith("listening: ") and "…" in state.shown() and state.shown().endswith(".wav")


def QtGui_metrics(view):
    fm = QtGui.QFontMetrics(view.getAxis("bottom").style["tickFont"])
    return lambda text: fm.horizontalAdvance(text.strip())
