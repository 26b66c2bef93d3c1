"""Settings → Actions (issue 18, "In the window"), offscreen with pytest-qt: real processes
(a tiny script that writes its environment to a file) and a real settings file."""
from __future__ import annotations

import stat
from types import SimpleNamespace

import pytest
import pytestqt  # noqa: E402,F401  (a missing pytest-qt must fail, not skip these tests)
from PyQt6 import QtWidgets  # noqa: E402

from kwsapp.gui.listening.bridge import Heard  # noqa: E402
from kwsapp.gui.settings.store import Store, open_settings  # noqa: E402

Buttons = QtWidgets.QDialogButtonBox.StandardButton


@pytest.fixture
def settings_path(tmp_path):
    return str(tmp_path / "settings.ini")


def make_window(qtbot, settings_path, model_dir):
    from kwsapp.gui.window import MainWindow

    w = MainWindow(Store(open_settings(settings_path)), model_dir=model_dir, autostart=False)
    qtbot.addWidget(w)
    w.show()
    return w


@pytest.fixture
def window(qtbot, settings_path, model_dir):
    w = make_window(qtbot, settings_path, model_dir)
    yield w
    w.shutdown()


@pytest.fixture
def envscript(tmp_path):
    """A program that writes its KWSAPP_* environment to $OUT_DIR/<label>.env."""
    p = tmp_path / "record-env"
    p.write_text("#!/bin/sh\nenv | grep '^KWSAPP_' > \"$1/$KWSAPP_LABEL.env\"\n")
    p.chmod(p.stat().st_mode | stat.S_IXUSR)
    return str(p)


def detection(t: float, label: str, score: float):
    from kwsapp.core.detector import Detection

    return Detection(t, label, score)  # what the engine sends


def settings_dialog(w):
    w.open_settings()
    return w.settings_panel, w.settings_panel.actions_tab


def press(panel, button):
    panel.findChild(QtWidgets.QDialogButtonBox).button(button).click()


def read_env(path) -> dict:
    with open(path) as f:
        return dict(line.rstrip("\n").split("=", 1) for line in f)


def test_detection_runs_the_configured_command_with_the_detection_in_its_env(window, qtbot, envscript, tmp_path):
    panel, tab = settings_dialog(window)
    tab.commands["yes"].setText(f"{envscript} '{tmp_path}'")  # quoted like a shell would, run by none
    tab.checks["yes"].setChecked(True)
    press(panel, Buttons.Ok)
    assert not panel.isVisible()
    window._on_heard(Heard(detection(2.5, "yes", 0.81)))
    out = tmp_path / "yes.env"
    qtbot.waitUntil(out.exists, timeout=5000)
    qtbot.waitUntil(lambda: "KWSAPP_WALL_TIME" in read_env(out), timeout=5000)
    env = read_env(out)
    assert env["KWSAPP_LABEL"] == "yes" and env["KWSAPP_SCORE"] == "0.8100" and env["KWSAPP_TIME"] == "2.500"
    assert window.history.rows[-1].command == "yes"  # the window still shows it as before


def test_a_word_switched_off_runs_nothing(window, qtbot, envscript, tmp_path):
    panel, tab = settings_dialog(window)
    for word, on in (("no", False), ("go", True)):
        tab.commands[word].setText(f"{envscript} {tmp_path}")
        tab.checks[word].setChecked(on)
    press(panel, Buttons.Ok)
    window._on_heard(Heard(detection(1.0, "no", 0.9)))
    window._on_heard(Heard(detection(3.0, "go", 0.9)))  # fired after "no": once it ran, "no" had its chance
    qtbot.waitUntil((tmp_path / "go.env").exists, timeout=5000)
    window.action_runner.runner.finish(5.0)
    assert not (tmp_path / "no.env").exists()
    assert window.action_runner.runner.started == 1


def test_a_failing_command_is_one_line_in_the_status_bar(window, qtbot, tmp_path):
    window.set_actions({"yes": _action("sh -c 'exit 3'")})
    window._on_heard(Heard(detection(1.0, "yes", 0.9)))
    qtbot.waitUntil(lambda: "exit status 3" in window.statusBar().currentMessage(), timeout=5000)
    assert "\n" not in window.statusBar().currentMessage()


def test_a_program_not_found_is_said_at_once_and_kept(window):
    panel, tab = settings_dialog(window)
    tab.commands["down"].setText("no-such-program-kwsapp --flag")
    press(panel, Buttons.Ok)
    assert "no-such-program-kwsapp: no such program" in window.statusBar().currentMessage()
    assert window.store.actions()["down"].command == "no-such-program-kwsapp --flag"


def test_a_command_that_does_not_parse_is_refused_and_named(window):
    panel, tab = settings_dialog(window)
    tab.commands["up"].setText("notify-send 'unclosed")
    press(panel, Buttons.Ok)
    assert panel.isVisible() and "'up'" in tab.error.text()
    assert window.store.actions() == {}


def test_the_slider_sets_that_words_threshold_in_the_engines_smoothing(window):
    got = []
    window.controller.engine = SimpleNamespace(update_settings=got.append, stop=lambda: None)
    panel, tab = settings_dialog(window)
    before_no = window.smoothing.threshold_for("no")
    tab.sliders["yes"].setValue(20)  # 20 % sensitive = threshold 0.80
    press(panel, Buttons.Apply)
    assert got and got[-1].smoothing.threshold_for("yes") == pytest.approx(0.80)
    assert got[-1].smoothing.threshold_for("no") == pytest.approx(before_no)
    assert window.smoothing.threshold_for("yes") == pytest.approx(0.80)


def test_tuned_value_marked_and_restore_defaults_resets_the_tab(window, envscript):
    from kwsapp.gui.listening import engine_api

    tuned = engine_api.model_smoothing(window.model_dir)
    panel, tab = settings_dialog(window)
    assert tab.sliders["yes"].tuned_percent == round(100 * (1 - tuned.threshold_for("yes")))
    tab.commands["yes"].setText(envscript)
    tab.checks["yes"].setChecked(False)
    tab.sliders["yes"].setValue(5)
    press(panel, Buttons.RestoreDefaults)
    assert tab.commands["yes"].text() == "" and tab.checks["yes"].isChecked()
    assert tab.sliders["yes"].value() == tab.sliders["yes"].tuned_percent
    press(panel, Buttons.Ok)
    assert window.smoothing.threshold_for("yes") == pytest.approx(tuned.threshold_for("yes"))


def test_actions_and_sensitivity_persist_across_a_new_window(qtbot, settings_path, model_dir, envscript):
    w = make_window(qtbot, settings_path, model_dir)
    panel, tab = settings_dialog(w)
    tab.commands["left"].setText(f"{envscript} /tmp")
    tab.checks["left"].setChecked(False)
    tab.sliders["left"].setValue(33)
    press(panel, Buttons.Ok)
    w.close()  # saves and shuts down, as Quit does

    from kwsapp.gui.window import MainWindow

    w2 = MainWindow(Store(open_settings(settings_path)), model_dir=model_dir, autostart=False)
    qtbot.addWidget(w2)
    try:
        _, tab2 = settings_dialog(w2)
        assert tab2.commands["left"].text() == f"{envscript} /tmp"
        assert not tab2.checks["left"].isChecked()
        assert tab2.sliders["left"].value() == 33
        assert w2.smoothing.threshold_for("left") == pytest.approx(0.67)
    finally:
        w2.shutdown()


def _action(command: str, on: bool = True):
    from kwsapp.gui.actions.actionstab import WordAction

    return WordAction(command, on)
