"""The desktop window, offscreen (pytest-qt): widgets, settings, the real engine on real clips,
error paths and a clean close."""
from __future__ import annotations

import csv
import json
import os
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

# Imported, not importorskip'ed: without pytest-qt (a broken test install) these files must
# fail, not quietly skip every window test.
import pytestqt  # noqa: F401

from kwsapp.core.errors import AudioFileError, DeviceError
from kwsapp.core.smoothing import SmoothingConfig
from kwsapp.core.wavio import load_audio, write_wav
from kwsapp.gui.listening.bridge import Heard
from kwsapp.gui.listening.engine_api import SourceSpec
from kwsapp.gui.live.history import HistoryTable
from kwsapp.gui.live.scores import ScoresView
from kwsapp.gui.live.spectrogram import SpectrogramView, mel_axis_ticks
from kwsapp.gui.settings.panel import SmoothingPanel
from kwsapp.gui.settings.store import Store, open_settings

WORDS = ("yes", "no", "stop", "go", "left")
OUR_THREADS = ("kws-", "kwsapp-")


def build_words_wav(data_dir: str, path: str, words=WORDS, gap_s: float = 1.0) -> list[str]:
    """Real clips from the shared testing list, one per word, separated by silence."""
    with open(os.path.join(data_dir, "testing_list.txt")) as f:
        test = [l.strip() for l in f if l.strip()]
    parts = [np.zeros(8000, np.float32)]
    for w in words:
        clip = next(c for c in test if c.startswith(w + "/"))
        x = load_audio(os.path.join(data_dir, clip), 16000)[:16000]
        parts += [np.pad(x, (0, 16000 - len(x))), np.zeros(int(gap_s * 16000), np.float32)]
    write_wav(path, np.concatenate(parts))
    return list(words)


def our_threads():
    return [t for t in threading.enumerate() if t.name.startswith(OUR_THREADS) and t.is_alive()]


@pytest.fixture
def store(tmp_path):
    return Store(open_settings(str(tmp_path / "settings.ini")))


@pytest.fixture
def make_window(qtbot, store):
    from kwsapp.gui.window import MainWindow

    made = []

    def make(**kw):
        w = MainWindow(store, **kw)
        qtbot.addWidget(w)
        w.show()
        made.append(w)
        return w

    yield make
    for w in made:
        w.shutdown()


# ---------------------------------------------------------------- widgets on their own
def test_spectrogram_ring_keeps_newest_columns_in_order(qtbot):
    view = SpectrogramView(8, frame_rate_hz=100, lower_hz=80, upper_hz=7600, history_s=0.5)
    qtbot.addWidget(view)
    w = view.width_cols
    assert w == 50
    blank = view.snapshot()
    # 3 hops' worth past a full screen, so the ring has wrapped.
    cols = np.linspace(-10, 3.5, (w + 27) * 8).reshape(w + 27, 8).astype(np.float32)
    for i in range(0, len(cols), 10):
        view.push_columns(cols[i : i + 10])
    view.flush()
    shot = view.snapshot()
    assert not np.array_equal(shot, blank)
    # Exact: colourise is element-wise IEEE arithmetic and a table look-up (no reductions, no
    # transcendental functions), so a column gives the same bytes whatever batch it came in.
    np.testing.assert_array_equal(shot, view.colourise(cols[-w:]))  # oldest left, newest right
    assert view.columns_shown <= len(cols)


def test_spectrogram_reveals_columns_at_their_real_rate(qtbot):
    view = SpectrogramView(8, frame_rate_hz=100, lower_hz=80, upper_hz=7600, history_s=2.0)
    qtbot.addWidget(view)
    view.push_columns(np.zeros((10, 8), np.float32))  # one 100 ms hop
    t0 = time.monotonic()
    qtbot.waitUntil(lambda: view.columns_shown == 10, timeout=2000)
    # Paced over about a hop, not dumped in one frame (which would stutter at 10 fps).
    assert time.monotonic() - t0 > 0.04


def test_mel_axis_ticks_sit_on_the_bands_of_the_feature_pipeline():
    from kwsapp.core.features import FeatureConfig, mel_matrix

    cfg = FeatureConfig()
    ticks = dict((label, y) for y, label in mel_axis_ticks(cfg.num_mel_bins, cfg.lower_hz, cfg.upper_hz))
    assert list(ticks) == ["250", "500", "1k", "2k", "4k", "7k"]  # 100 Hz is below the first band
    peaks_hz = np.argmax(mel_matrix(cfg), axis=0) * cfg.sample_rate / cfg.fft_length
    for label, hz in (("500", 500), ("1k", 1000), ("4k", 4000)):
        band = int(np.argmin(np.abs(peaks_hz - hz)))
        assert abs(ticks[label] - (band + 0.5)) <= 1.0, (label, ticks[label], band)


def test_score_bars_follow_scores_and_threshold(qtbot):
    labels = ("_silence_", "_unknown_", "yes", "no")
    view = ScoresView(labels, threshold=0.6)
    qtbot.addWidget(view)
    view.set_scores(np.array([0.1, 0.2, 0.65, 0.05]))
    np.testing.assert_allclose(view.heights, [0.1, 0.2, 0.65, 0.05], rtol=1e-6)
    hot = [b.color().getRgb()[:3] for b in view.bars.opts["brushes"]]
    assert hot[2] != hot[3]  # 'yes' is over the threshold, 'no' is not
    assert hot[0] == hot[1] != hot[3]  # silence/unknown drawn quietly
    view.set_threshold(0.7)
    assert view.threshold_line.value() == pytest.approx(0.7)
    assert view.bars.opts["brushes"][2].color().getRgb()[:3] == hot[3]


def test_history_clear_and_save_csv(qtbot, tmp_path):
    import datetime as dt

    h = HistoryTable()
    qtbot.addWidget(h)
    h.add(1.25, "yes", 0.91, wall=dt.datetime(2024, 5, 1, 12, 0, 0, 123000))
    h.add(3.5, "no", 0.8)
    assert h.table.rowCount() == 2 and h.table.item(0, 2).text() == "no"  # newest on top
    out = tmp_path / "det.csv"
    h.save(str(out))
    with open(out) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["wall_time", "stream_time_s", "command", "score", "source", "model", "clip", "mark",
                       "marked_as"]
    assert rows[1] == ["2024-05-01T12:00:00.123", "1.25", "yes", "0.910", "", "", "", "", ""]
    assert rows[2][1:4] == ["3.50", "no", "0.800"]
    h.clear()
    assert h.table.rowCount() == 0 and h.rows == []
    with pytest.raises(Exception, match="cannot save"):
        h.save(str(tmp_path / "no-such-folder" / "x.csv"))


def test_settings_persist_and_survive_damage(tmp_path):
    path = str(tmp_path / "s.ini")
    s = Store(open_settings(path))
    s.device = "USB mic"
    s.set_smoothing(SmoothingConfig(detection_threshold=0.55, suppression_ms=900.0))
    s.sync()
    again = Store(open_settings(path))
    assert again.device == "USB mic"
    cfg = again.smoothing(SmoothingConfig)
    assert cfg.detection_threshold == 0.55 and cfg.suppression_ms == 900.0
    again.qs.setValue("engine/smoothing", json.dumps({"detection_threshold": 7}))  # invalid
    assert again.smoothing(SmoothingConfig) == SmoothingConfig()


def test_smoothing_panel_applies_and_rejects(qtbot):
    panel = SmoothingPanel(SmoothingConfig())
    qtbot.addWidget(panel)
    got = []
    panel.applied.connect(got.append)
    assert "ignore_labels" not in panel.editors  # not a number: left as it is
    panel.editors["detection_threshold"].setValue(0.42)
    panel.editors["minimum_count"].setValue(5)
    assert panel.apply()
    assert got[-1].detection_threshold == pytest.approx(0.42) and got[-1].minimum_count == 5
    panel.editors["average_window_ms"].setValue(0)  # the dataclass refuses this
    assert not panel.apply()
    assert "average_window_ms" in panel.error.text() and len(got) == 1


# ---------------------------------------------------------------- the window and the engine
def test_real_clips_show_detections_spectrogram_and_bars(make_window, qtbot, data_dir, model_dir, tmp_path,
                                                         monkeypatch):
    from kwsapp.audio.filesource import FileSource
    from kwsapp.audio.ringbuffer import RingBuffer
    from kwsapp.core.recognizer import Recognizer
    from kwsapp.engine import Engine

    # The project's rule: the GUI thread never runs the model (loading, warm-up or a hop), so
    # a slow inference can never freeze the window. Every model call records its thread.
    model_threads = []
    call = Recognizer.__call__
    monkeypatch.setattr(Recognizer, "__call__",
                        lambda self, window: model_threads.append(threading.current_thread()) or call(self, window))

    wav = str(tmp_path / "words.wav")
    words = build_words_wav(data_dir, wav)
    # Real time, as a microphone would deliver it: the bars are redrawn on a 25 Hz timer, and a
    # file raced through on a loaded machine can finish between two redraws.
    w = make_window(spec=SourceSpec("file", path=wav, realtime=True), model_dir=model_dir)
    blank = w.spectrogram.snapshot()
    seen_heights = []
    rates = set()
    qtbot.waitUntil(lambda: seen_heights.append(w.scores.heights.copy()) or rates.add(w.status_line.rate_label.text()) or
                    w.status_line.state_label.text().startswith("finished"), timeout=90000)
    assert not w.banner.isVisible(), w.banner.text.text()
    assert len(model_threads) > 50  # warm-up and every hop of the 10.5 s file
    assert threading.main_thread() not in model_threads, {t.name for t in model_threads}
    monkeypatch.undo()

    # The same file through the engine offline: the window must show exactly its detections.
    src = FileSource(RingBuffer(16000), wav, realtime=False)
    expected = [d.label for d in Engine(src, model_dir).run_offline(src.load())]
    assert w.history.commands() == expected
    assert [label for label, _ in w.readout.shown] == expected
    # ... and with the bundled model those are words spoken, in order (a real model may miss
    # one of the five at its tuned threshold; streamtest measures how often).
    it = iter(words)
    assert all(d in it for d in expected) and len(expected) >= len(words) - 1, expected

    assert w.history.table.rowCount() == len(expected)
    assert all(0 < r.score <= 1 for r in w.history.rows)
    assert w.readout.word.text() == expected[-1].upper()
    assert not np.array_equal(w.spectrogram.snapshot(), blank)
    moved = np.ptp(np.array(seen_heights), axis=0)
    assert (moved > 0.3).sum() >= 3  # several bars rose and fell
    assert "16000 Hz" in rates  # while it played (stopped, no stale figure stays up)
    assert w.status_line.rate_label.text() == "rate –"


def test_detection_readout_fades(qtbot):
    from kwsapp.gui.live import readout

    r = readout.DetectionReadout()
    qtbot.addWidget(r)
    r.show()
    r.show_detection("stop", 0.87)
    assert r.word.text() == "STOP" and r.confidence.text() == "score 0.87" and r.opacity == 1.0
    qtbot.waitUntil(lambda: r.opacity == 0.0, timeout=readout.HOLD_MS + readout.FADE_MS + 1500)
    r.show_quiet("_silence_", 0.93)
    assert r.quiet.text() == "hearing: silence (0.93)"


def test_quiet_labels_never_become_detections(make_window, model_dir):
    w = make_window(model_dir=model_dir, autostart=False)
    w._on_heard(Heard(SimpleNamespace(stream_time_s=1.0, label="_unknown_", score=0.99)))
    w._on_heard(Heard(SimpleNamespace(stream_time_s=2.0, label="_silence_", score=0.99)))
    assert w.history.rows == [] and w.readout.shown == []


def test_missing_device_keeps_window_up_with_a_way_out(make_window, qtbot, model_dir):
    w = make_window(spec=SourceSpec("mic", device="no such microphone 1234"), model_dir=model_dir)
    qtbot.waitUntil(w.banner.isVisible, timeout=30000)
    text = w.banner.text.text()
    assert "input device" in text and "WAV file" in text
    assert w.banner.wav_button.isVisible() and w.banner.devices_button.isVisible()
    assert w.controller.engine is None and w.start_action.text() == "Start"
    assert w.isVisible()
    w.banner.devices_button.click()  # offers the (fresh) device list
    assert w.device_combo.view().isVisible() and w.device_combo.itemText(0) == "System default input"
    w.device_combo.hidePopup()


def test_an_error_from_the_engine_thread_stops_and_explains(make_window, qtbot, data_dir, model_dir, tmp_path):
    """The window's side of an engine error: the error is raised by hand on another thread
    (a real device vanishing is test_virtual_microphone_then_it_vanishes)."""
    wav = str(tmp_path / "words.wav")
    build_words_wav(data_dir, wav)
    w = make_window(spec=SourceSpec("file", path=wav, realtime=True), model_dir=model_dir)
    qtbot.waitUntil(lambda: w.controller.engine is not None and w._latest is not None, timeout=30000)
    engine = w.controller.engine
    # What the engine does when its source fails: stop itself, report on its own thread.
    threading.Thread(target=lambda: (engine.stop(), engine.on_error(DeviceError(
        "input device 3 (USB Mic) stopped delivering audio (unplugged?)")))).start()
    qtbot.waitUntil(w.banner.isVisible, timeout=5000)
    assert "unplugged" in w.banner.text.text() and "choose another input device" in w.banner.text.text()
    assert w.controller.engine is None and w.status_line.state_label.text() == "stopped" and w.isVisible()


@pytest.mark.parametrize("damage", ["missing", "broken", "weights"])
def test_model_problem_names_folder_and_rebuild(make_window, qtbot, tmp_path, data_dir, model_dir, damage):
    import shutil

    folder = tmp_path / "mymodel"
    if damage == "broken":
        folder.mkdir()
        (folder / "config.json").write_text("{not json")
    elif damage == "weights":  # a valid config.json, corrupt weights: found only when loading
        folder.mkdir()
        shutil.copy(os.path.join(model_dir, "config.json"), folder)
        for name in ("model.tflite", "model.keras"):
            (folder / name).write_bytes(b"\0garbage" * 100)
    wav = str(tmp_path / "yes.wav")
    build_words_wav(data_dir, wav, words=("yes",))
    w = make_window(spec=SourceSpec("file", path=wav), model_dir=str(folder))
    qtbot.waitUntil(w.banner.isVisible, timeout=30000)
    assert w.banner.model_button.isVisible() and not w.banner.wav_button.isVisible()
    # A folder the user gave: named, and no developer advice (`make model` is for the bundled one).
    assert f"no model in {folder}" in w.banner.text.text() and "make model" not in w.banner.text.text()
    w.start()  # starting anyway does not crash and keeps (or re-shows) the message
    qtbot.waitUntil(lambda: w.banner.isVisible() and not any(t.is_alive() for t in w.controller.starters), timeout=30000)
    assert w.controller.engine is None and str(folder) in w.banner.text.text()


def test_switching_input_while_running_replaces_the_engine(make_window, qtbot, data_dir, model_dir, tmp_path):
    a, b = str(tmp_path / "a.wav"), str(tmp_path / "b.wav")
    build_words_wav(data_dir, a, words=("yes",))
    build_words_wav(data_dir, b, words=("no",))
    w = make_window(spec=SourceSpec("file", path=a), model_dir=model_dir)
    qtbot.waitUntil(lambda: w.controller.engine is not None, timeout=30000)
    first = w.controller.engine
    w.start(SourceSpec("file", path=b))
    qtbot.waitUntil(lambda: w.controller.engine is not None and w.controller.engine is not first, timeout=30000)
    assert w.controller.engine.source.path == b
    assert not first.running  # the old stream was stopped, not left running beside the new one
    assert w.device_combo.currentText() == "File: b.wav"


def test_threshold_control_updates_engine_chart_and_settings(make_window, qtbot, data_dir, model_dir, tmp_path,
                                                             store):
    wav = str(tmp_path / "w.wav")
    build_words_wav(data_dir, wav, words=("yes",))
    w = make_window(spec=SourceSpec("file", path=wav), model_dir=model_dir)
    qtbot.waitUntil(lambda: w.controller.engine is not None, timeout=30000)
    # 0.72: not any model's tuned value (the sweep's grid is 0.05), so setting it is a change
    w.threshold_spin.setValue(0.72)
    assert w.scores.threshold == pytest.approx(0.72)
    assert store.smoothing(SmoothingConfig).detection_threshold == pytest.approx(0.72)
    qtbot.waitUntil(lambda: w.controller.engine.settings.smoothing.detection_threshold == pytest.approx(0.72), timeout=3000)


def test_close_stops_audio_and_worker(qtbot, store, data_dir, model_dir, tmp_path):
    from kwsapp.gui.window import MainWindow

    wav = str(tmp_path / "words.wav")
    build_words_wav(data_dir, wav)
    w = MainWindow(store, spec=SourceSpec("file", path=wav, realtime=True), model_dir=model_dir)
    w.show()
    qtbot.waitUntil(lambda: w.controller.engine is not None and w._latest is not None, timeout=30000)
    assert any(t.name == "kws-engine" for t in our_threads())
    engine = w.controller.engine
    t0 = time.monotonic()
    w.close()
    # A hang bound, not a speed goal: close waits about a second per thread at most; 1.05 s was
    # measured with both cores busy training, so 1 s here failed under load.
    assert time.monotonic() - t0 < 5.0
    assert not engine.running
    assert our_threads() == []


def test_cli_missing_input_file_is_one_clear_error(tmp_path, store):
    from kwsapp.gui.app import _spec_from_args

    with pytest.raises(AudioFileError, match="nope.wav does not exist"):
        _spec_from_args(SimpleNamespace(input=str(tmp_path / "nope.wav"), device=None, model=None), store)
    spec = _spec_from_args(SimpleNamespace(input=None, device="2", model=None), store)
    assert spec == SourceSpec("mic", device=2)


@pytest.mark.audio
def test_virtual_microphone_then_it_vanishes(make_window, qtbot, data_dir, model_dir, tmp_path):
    """A real PortAudio device (PulseAudio's virtual mic): speech shows up, then the server
    dies mid-stream and the window says so instead of freezing or crashing."""
    from pulse import VirtualMic

    wav = str(tmp_path / "yes.wav")
    build_words_wav(data_dir, wav, words=("yes",))
    vm = VirtualMic().start()
    try:
        w = make_window(spec=SourceSpec("mic", device=vm.device), model_dir=model_dir)
        qtbot.waitUntil(lambda: w.controller.engine is not None and w._latest is not None or w.banner.isVisible(),
                        timeout=30000)
        assert not w.banner.isVisible(), w.banner.text.text()
        assert "microphone" in w.status_line.state_label.text()
        quiet = w._latest.level_db
        vm.play(wav, wait=False)
        loudest = []
        qtbot.waitUntil(lambda: loudest.append(w._latest.level_db) or max(loudest) > quiet + 20, timeout=10000)
        qtbot.waitUntil(lambda: w.history.commands() == ["yes"], timeout=10000)
        assert w.readout.word.text() == "YES"
        # The server dies under the running stream (as when a USB microphone is pulled out).
        vm._run("pulseaudio", "--kill", check=False)
        qtbot.waitUntil(w.banner.isVisible, timeout=10000)
    finally:
        vm.stop()
    assert "input device" in w.banner.text.text() and w.controller.engine is None and w.isVisible()
    assert w.banner.wav_button.isVisible()


def test_window_remembers_threshold_device_and_size_between_runs(qtbot, tmp_path, model_dir):
    from kwsapp.gui.window import MainWindow

    path = str(tmp_path / "remember.ini")
    first = MainWindow(Store(open_settings(path)), model_dir=model_dir, autostart=False)
    qtbot.addWidget(first)
    first.show()
    first.resize(700, 500)  # smaller than the offscreen screen (800x600)
    first.threshold_spin.setValue(0.8)
    first.store.device = "USB mic"
    first.close()
    second = MainWindow(Store(open_settings(path)), model_dir=model_dir, autostart=False)
    qtbot.addWidget(second)
    assert second.threshold_spin.value() == pytest.approx(0.8)
    assert second.scores.threshold == pytest.approx(0.8)
    assert second.spec == SourceSpec("mic", device="USB mic")
    assert (second.width(), second.height()) == (700, 500)
    second.shutdown()


def test_window_uses_the_models_tuned_threshold_until_the_user_sets_one(make_window, tmp_path, model_dir):
    from conftest import copy_model

    a = copy_model(model_dir, str(tmp_path / "a"), detection_threshold=0.7)
    b = copy_model(model_dir, str(tmp_path / "b"), detection_threshold=0.35)
    w = make_window(model_dir=a, autostart=False)
    assert w.threshold == pytest.approx(0.7) and w.threshold_spin.value() == pytest.approx(0.7)
    assert w.set_model_dir(b)
    assert w.threshold == pytest.approx(0.35) and w.scores.threshold == pytest.approx(0.35)
    assert not w.store.has_smoothing()  # following the model is not a user choice
    w.threshold_spin.setValue(0.6)  # the user's choice now wins, for every model
    assert w.set_model_dir(a)
    assert w.threshold == pytest.approx(0.6) and w.store.has_smoothing()
    # "Restore Defaults" in the settings panel goes back to the model's tuned threshold.
    from PyQt6 import QtWidgets

    w.open_settings()
    panel = w.settings_panel
    assert panel.editors["detection_threshold"].value() == pytest.approx(0.6)
    box = panel.findChild(QtWidgets.QDialogButtonBox)
    box.button(QtWidgets.QDialogButtonBox.StandardButton.RestoreDefaults).click()
    assert panel.editors["detection_threshold"].value() == pytest.approx(0.7)
    panel.reject()


def test_no_display_is_a_clear_error_not_a_qt_abort():
    from kwsapp.core.errors import KwsError
    from kwsapp.gui.app import check_display

    with pytest.raises(KwsError, match="no display found.*kwsapp listen"):
        check_display({})
    with pytest.raises(KwsError, match="no display found"):
        check_display({"QT_QPA_PLATFORM": "xcb"})
    check_display({"DISPLAY": ":0"})
    check_display({"WAYLAND_DISPLAY": "wayland-0"})
    check_display({"QT_QPA_PLATFORM": "offscreen"})  # needs no screen


def test_rapid_start_stop_and_model_change_leave_one_engine(make_window, qtbot, data_dir, model_dir, tmp_path):
    wav = str(tmp_path / "w.wav")
    build_words_wav(data_dir, wav, words=("yes", "no"))
    w = make_window(spec=SourceSpec("file", path=wav), model_dir=model_dir)
    qtbot.waitUntil(lambda: w._running, timeout=2000)  # the automatic start
    for _ in range(4):  # faster than an engine can load: each request supersedes the last
        w.toggle()
    assert w._running and w.start_action.text() == "Stop"
    qtbot.waitUntil(lambda: w.controller.engine is not None and not any(t.is_alive() for t in w.controller.starters), timeout=30000)
    assert [t.name for t in our_threads()].count("kws-engine") == 1
    bad = tmp_path / "empty-model"
    bad.mkdir()
    assert not w.set_model_dir(str(bad))  # refused, explained, the running engine kept
    assert str(bad) in w.banner.text.text() and w.controller.engine is not None and w.model_dir == model_dir
    assert w.set_model_dir(model_dir) and not w.banner.isVisible()
    qtbot.waitUntil(lambda: w.controller.engine is not None and not any(t.is_alive() for t in w.controller.starters), timeout=30000)
    assert [t.name for t in our_threads()].count("kws-engine") == 1


def test_bridge_delivers_in_gui_thread_and_drops_after_deactivate(qtbot):
    from PyQt6 import QtCore

    from kwsapp.gui.listening.bridge import EngineBridge

    bridge = EngineBridge()
    got = []
    bridge.hop.connect(lambda r: got.append((r, threading.current_thread() is threading.main_thread())))
    t = threading.Thread(target=bridge.on_hop, args=("hop-1",))
    t.start()
    t.join()
    assert got == []  # queued: nothing runs on the worker thread
    qtbot.waitUntil(lambda: got == [("hop-1", True)], timeout=2000)
    bridge.on_hop("hop-2")
    bridge.deactivate()  # e.g. the user switched input: the old stream's last hop is dropped
    QtCore.QCoreApplication.processEvents()
    assert got == [("hop-1", True)]
    from PyQt6 import sip

    sip.delete(bridge)  # the window is gone while a worker still reports: no exception
    bridge.on_error(DeviceError("gone"))
