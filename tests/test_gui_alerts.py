"""A word's sound and notification (issue 18, "In the window"), offscreen with pytest-qt. The
boundaries are patched, not the logic: QSoundEffect.play (offscreen has no audio output) and
QSystemTrayIcon.showMessage / isSystemTrayAvailable (offscreen has no tray)."""
from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pytest
import pytestqt  # noqa: F401  (a missing pytest-qt must fail, not skip these tests)
from PyQt6 import QtMultimedia, QtWidgets  # noqa: E402
from test_gui_actions import make_window  # noqa: E402  (a shown window on a settings file)

from kwsapp.core.wavio import read_wav, write_wav  # noqa: E402
from kwsapp.gui.actions.actionstab import WordAction  # noqa: E402
from kwsapp.gui.listening.bridge import Heard  # noqa: E402

Buttons = QtWidgets.QDialogButtonBox.StandardButton


@pytest.fixture
def played(monkeypatch):
    """The files QSoundEffect was asked to play, in order."""
    got = []
    monkeypatch.setattr(QtMultimedia.QSoundEffect, "play", lambda self: got.append(self.source().toLocalFile()))
    return got


@pytest.fixture
def shown(monkeypatch):
    """A desktop with a tray; the messages its icon was asked to show."""
    got = []
    monkeypatch.setattr(QtWidgets.QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: True))
    monkeypatch.setattr(QtWidgets.QSystemTrayIcon, "showMessage", lambda self, *a: got.append(a))
    return got


@pytest.fixture
def window(qtbot, tmp_path, model_dir):
    w = make_window(qtbot, str(tmp_path / "s.ini"), model_dir)
    yield w
    w.shutdown()
    if w.tray is not None:
        w.tray.remove()


def heard(w, label: str, score: float = 0.9, t: float = 1.0):
    w._on_heard(Heard(SimpleNamespace(stream_time_s=t, label=label, score=score)))


def press(panel, button):
    panel.findChild(QtWidgets.QDialogButtonBox).button(button).click()


def test_the_chime_is_a_short_valid_wav_written_by_the_app_and_rewritten_if_gone(tmp_path):
    from kwsapp.gui.actions import chime

    path = chime.chime_path(str(tmp_path / "sounds"))
    samples, rate = read_wav(path)
    assert rate == chime.RATE and samples.shape == (round(chime.DURATION_S * chime.RATE), 1)
    x = samples[:, 0]
    assert 0.3 < np.abs(x).max() <= chime.LEVEL + 1e-3  # audible, never near full scale
    assert abs(x[0]) < 0.01 and abs(x[-1]) < 0.01  # faded: no click
    os.remove(path)
    assert chime.chime_path(str(tmp_path / "sounds")) == path and os.path.getsize(path) > 44


def test_a_detection_plays_its_words_sound_and_not_a_word_without_one(window, played, tmp_path):
    from kwsapp.gui.actions.chime import chime_path

    mine = str(tmp_path / "ding.wav")
    write_wav(mine, np.zeros(1600, np.float32))
    window.set_actions({"yes": WordAction(sound="chime"), "go": WordAction(sound="file", sound_file=mine),
                        "no": WordAction(sound="off", sound_file=mine)})
    heard(window, "yes")
    heard(window, "no", t=2.0)
    heard(window, "stop", t=3.0)  # no settings at all
    heard(window, "go", t=4.0)
    assert played == [chime_path(), mine]
    assert window.history.commands() == ["yes", "no", "stop", "go"]


def test_a_missing_sound_file_is_one_line_and_listening_goes_on(window, played, tmp_path):
    gone = str(tmp_path / "gone.wav")
    window.set_actions({"yes": WordAction(sound="file", sound_file=gone)})
    assert f"sound file {gone} not found" in window.statusBar().currentMessage()  # said when applied
    window.statusBar().clearMessage()
    heard(window, "yes")
    message = window.statusBar().currentMessage()
    assert message == f"the sound for 'yes': sound file {gone} not found" and played == []
    (tmp_path / "text.wav").write_text("not audio at all")
    window.set_actions({"yes": WordAction(sound="file", sound_file=str(tmp_path / "text.wav"))})
    heard(window, "yes", t=2.0)
    assert window.statusBar().currentMessage().endswith("is not a WAV file") and played == []
    assert window.history.commands() == ["yes", "yes"] and window.messages[-1].endswith("is not a WAV file")


def test_a_notification_goes_through_the_tray_icon_for_the_words_that_ask(qtbot, tmp_path, model_dir, shown):
    w = make_window(qtbot, str(tmp_path / "s.ini"), model_dir)
    try:
        w.set_actions({"yes": WordAction(notify=True), "no": WordAction(notify=False)})
        heard(w, "no")
        heard(w, "yes", 0.87, t=2.0)
        assert len(shown) == 1
        title, text, *_ = shown[0]
        assert title == "Heard “yes”" and text.startswith("score 0.87 at ")
    finally:
        w.quit()


def test_without_a_tray_the_notify_box_is_off_and_says_why(window, monkeypatch):
    assert window.tray is None  # offscreen: no tray
    window.open_settings()
    box = window.settings_panel.actions_tab.notifies["yes"]
    assert not box.isEnabled() and "no system tray" in box.toolTip()
    window.set_actions({"yes": WordAction(notify=True)})
    heard(window, "yes")  # nothing to show it on, and nothing breaks


def test_sounds_and_notifications_persist_and_restore_defaults_resets_them(qtbot, tmp_path, model_dir, shown):
    settings = str(tmp_path / "s.ini")
    mine = str(tmp_path / "ding.wav")
    write_wav(mine, np.zeros(1600, np.float32))
    w = make_window(qtbot, settings, model_dir)
    w.open_settings()
    tab = w.settings_panel.actions_tab
    tab.sounds["yes"].set_sound("chime")
    tab.sounds["go"].set_sound("file", mine)
    tab.notifies["stop"].setChecked(True)
    press(w.settings_panel, Buttons.Ok)
    w.quit()

    w2 = make_window(qtbot, settings, model_dir)
    try:
        stored = w2.store.actions()
        assert (stored["yes"].sound, stored["go"].sound, stored["go"].sound_file) == ("chime", "file", mine)
        assert stored["stop"].notify and not stored["yes"].notify
        w2.open_settings()
        tab = w2.settings_panel.actions_tab
        assert tab.sounds["go"].sound() == ("file", mine) and tab.sounds["go"].currentText() == "file: ding.wav"
        assert tab.notifies["stop"].isChecked()
        press(w2.settings_panel, Buttons.RestoreDefaults)
        assert tab.sounds["go"].sound()[0] == "off" and not tab.notifies["stop"].isChecked()
        press(w2.settings_panel, Buttons.Ok)
        assert all(a.sound == "off" and not a.notify for a in w2.store.actions().values())
        assert all(a.sound == "off" for a in w2.alerts.actions.values())
    finally:
        w2.quit()


def test_the_play_button_plays_each_words_chosen_sound_and_names_a_bad_file(window, played, tmp_path):
    from kwsapp.gui.actions.chime import chime_path

    mine = str(tmp_path / "ding.wav")
    write_wav(mine, np.zeros(1600, np.float32))
    window.open_settings()
    tab = window.settings_panel.actions_tab
    assert not tab.plays["yes"].isEnabled()  # "no sound": nothing to play
    tab.sounds["yes"].set_sound("chime")
    tab.sounds["go"].set_sound("file", mine)
    assert tab.plays["yes"].isEnabled() and tab.plays["go"].isEnabled()
    tab.plays["yes"].click()
    tab.plays["go"].click()
    assert played == [chime_path(), mine]
    os.remove(mine)
    tab.plays["go"].click()
    assert played == [chime_path(), mine] and tab.error.text() == f"go: sound file {mine} not found"
    tab.sounds["go"].set_sound("off", mine)
    assert not tab.plays["go"].isEnabled()
    window.settings_panel.reject()
