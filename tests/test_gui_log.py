"""The app's log (kwsapp.logbook): what the engine and the window log is kept, and Help → Log
shows it, so a user can copy it into a bug report."""
from __future__ import annotations

import logging

import pytestqt  # noqa: F401  (a missing pytest-qt must fail, not skip)

from kwsapp import logbook
from kwsapp.gui.settings.store import Store, open_settings


def test_the_detector_and_the_window_log_and_help_log_shows_it(qtbot, tmp_path, model_dir):
    from kwsapp.core.detector import Detector
    from kwsapp.gui.window import MainWindow

    logbook.install()
    Detector(model_dir)  # logs the model it loaded and its runtime
    assert any("kwsapp.core.detector" in l and "loaded" in l and model_dir in l for l in logbook.recent())
    w = MainWindow(Store(open_settings(str(tmp_path / "s.ini"))), model_dir=model_dir, autostart=False)
    qtbot.addWidget(w)
    w.note("something the user should be able to report")
    assert "Log" in [a.text() for a in w.menuBar().actions()[-1].menu().actions()]
    w.log_action.trigger()
    text = w.log_dialog.text.toPlainText()
    assert "kwsapp.gui.window: something the user should be able to report" in text
    assert "loaded" in text
    logging.getLogger("kwsapp.engine").warning("a later record")
    w.log_dialog.refresh_button.click()
    assert w.log_dialog.text.toPlainText().endswith("a later record")
    w.log_dialog.copy_button.click()
    from PyQt6 import QtWidgets

    assert QtWidgets.QApplication.clipboard().text() == w.log_dialog.text.toPlainText()
    w.log_dialog.close()  # a dialog left open outlives the test's window
    w.shutdown()


def test_the_log_keeps_the_newest_records_only():
    h = logbook.RecentHandler(keep=3)
    logger = logging.getLogger("kwsapp.test-keep")
    logger.addHandler(h)
    logger.setLevel(logging.INFO)
    for i in range(5):
        logger.info("record %d", i)
    logger.removeHandler(h)
    assert [l.rsplit(" ", 1)[1] for l in h.lines()] == ["2", "3", "4"]
