"""The system-tray icon (issue 18, "In the window"), offscreen with pytest-qt. The offscreen
platform has no tray, so the tests say there is one (QSystemTrayIcon itself still works)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import pytestqt  # noqa: E402,F401  (a missing pytest-qt must fail, not skip these tests)
from PyQt6 import QtWidgets  # noqa: E402

from kwsapp.gui.listening.bridge import Heard  # noqa: E402
from kwsapp.gui.settings.store import Store, open_settings  # noqa: E402


@pytest.fixture
def store(tmp_path):
    return Store(open_settings(str(tmp_path / "settings.ini")))


def make(qtbot, store, model_dir, tray: bool, monkeypatch):
    from kwsapp.gui.window import MainWindow

    monkeypatch.setattr(QtWidgets.QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: tray))
    w = MainWindow(store, model_dir=model_dir, autostart=False)
    qtbot.addWidget(w)
    w.show()
    stopped = []
    w.controller.engine = SimpleNamespace(stop=lambda: stopped.append(True), update_settings=lambda s: None)
    w._running = True  # as if listening
    return w, stopped


@pytest.fixture
def with_tray(qtbot, store, model_dir, monkeypatch):
    w, stopped = make(qtbot, store, model_dir, True, monkeypatch)
    yield w, stopped
    w.quit()


def test_no_tray_icon_where_the_desktop_has_no_tray(qtbot, store, model_dir, monkeypatch):
    w, stopped = make(qtbot, store, model_dir, False, monkeypatch)
    store.close_to_tray = True  # chosen earlier on a desktop with a tray: closing must still close
    assert w.tray is None
    w.close()
    assert stopped and not w.isVisible()


def test_tooltip_shows_the_last_detection(with_tray):
    w, _ = with_tray
    assert w.tray is not None and "nothing heard" in w.tray.tooltip
    w._on_heard(Heard(SimpleNamespace(stream_time_s=1.0, label="yes", score=0.8)))
    w._on_heard(Heard(SimpleNamespace(stream_time_s=3.0, label="stop", score=0.91)))
    assert "stop (0.91)" in w.tray.tooltip and "yes" not in w.tray.tooltip


def test_close_to_tray_keeps_listening_and_quit_from_the_menu_ends_it(with_tray, store):
    w, stopped = with_tray
    store.close_to_tray = True
    w.close()
    assert not w.isVisible() and not stopped and w.controller.engine is not None and w._running  # listening goes on
    w.tray.show_action.trigger()
    assert w.isVisible()
    w.tray.quit_action.trigger()
    assert stopped and not w.isVisible() and w.controller.engine is None
    assert QtWidgets.QApplication.quitOnLastWindowClosed()  # closing for real ends the app again


def test_closing_after_turning_close_to_tray_off_ends_the_app(with_tray, store):
    w, stopped = with_tray
    store.close_to_tray = True
    w.close()  # to the tray
    store.close_to_tray = False
    w.tray.show_action.trigger()
    w.close()
    assert stopped and QtWidgets.QApplication.quitOnLastWindowClosed()


def test_closing_without_the_opt_in_closes(with_tray):
    w, stopped = with_tray
    assert not w.store.close_to_tray  # opt-in: off until chosen
    w.close()
    assert stopped and not w.isVisible()


def test_close_to_tray_is_chosen_in_settings_persisted_and_reset_by_restore_defaults(with_tray, store):
    w, _ = with_tray
    buttons = QtWidgets.QDialogButtonBox.StandardButton
    w.open_settings()
    tab = w.settings_panel.actions_tab
    assert tab.tray_check.isEnabled() and not tab.tray_check.isChecked()
    tab.tray_check.setChecked(True)
    w.settings_panel.findChild(QtWidgets.QDialogButtonBox).button(buttons.Ok).click()
    assert Store(open_settings(store.qs.fileName())).close_to_tray
    w.open_settings()
    box = w.settings_panel.findChild(QtWidgets.QDialogButtonBox)
    assert w.settings_panel.actions_tab.tray_check.isChecked()
    box.button(buttons.RestoreDefaults).click()
    box.button(buttons.Ok).click()
    assert not store.close_to_tray
