"""Marking detections right or wrong in the history (issue 18, "In the window"), offscreen with
pytest-qt: the clip kept as a take in the takes layout, the mark in the row and the CSV, and
Train on my voice listing it and handing it to the fine-tune."""
from __future__ import annotations

import csv
import os

import numpy as np
import pytest
import pytestqt  # noqa: F401  (a missing pytest-qt must fail, not skip these tests)
from PyQt6 import QtCore  # noqa: E402
from test_gui_actions import make_window  # noqa: E402  (a shown window on a settings file)
from test_gui_clips import heard  # noqa: E402  (the clip, then its detection, as the bridge sends them)

from kwsapp.core.wavio import read_wav  # noqa: E402
from kwsapp.gui.actions import marks  # noqa: E402
from kwsapp.gui.actions.actionstab import WordAction  # noqa: E402
from tests.conftest import tone  # noqa: E402


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    """kwsapp's per-user data folder (takes, marked takes, models) in the test's own folder."""
    monkeypatch.setenv("KWSAPP_DATA", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture
def window(qtbot, tmp_path, model_dir, data_home):
    w = make_window(qtbot, str(tmp_path / "s.ini"), model_dir)
    w.set_actions({"yes": WordAction()}, clips_folder=str(tmp_path / "clips"))
    yield w
    w.shutdown()


def said(word_at_s: float = 0.9) -> np.ndarray:
    """1.5 s of room noise with a 'word' (a tone) around ``word_at_s``."""
    x = (0.003 * np.random.default_rng(2).standard_normal(24000)).astype(np.float32)
    start = int((word_at_s - 0.2) * 16000)
    x[start : start + 6400] += tone(500, 0.4, level=0.3)
    return x


def detected_with_clip(w, qtbot, label: str, t: float):
    heard(w, t, label, 0.9, said())
    qtbot.waitUntil(lambda: w.history.rows[-1].clip != "", timeout=5000)
    return w.history.rows[-1]


def test_mark_wrong_keeps_the_clip_as_an_unknown_take_and_the_csv_says_so(window, qtbot, data_home, tmp_path):
    h = window.history
    detected_with_clip(window, qtbot, "yes", 1.0)
    heard(window, 4.0, "no", 0.8, None)  # no clip: nothing to mark
    h.table.selectRow(0)
    assert not h.wrong_button.isEnabled() and h.mark_menu(0) is None
    h.table.selectRow(1)
    assert h.wrong_button.isEnabled()
    h.wrong_button.click()

    row = h.rows[0]
    take = data_home / "marked" / "_unknown_" / f"{marks.marked_speaker()}_nohash_0.wav"
    assert (row.mark, row.marked_as, row.take) == ("wrong", "_unknown_", str(take))
    samples, rate = read_wav(str(take))
    assert rate == 16000 and samples.shape == (16000, 1)  # one second, like a recorded take
    e = samples[:, 0].astype(np.float64) ** 2
    assert np.sum(np.arange(16000) * e) / e.sum() == pytest.approx(8000, abs=800)  # centred on the word
    assert h.table.item(1, 6).text() == "✗ wrong → unknown"
    assert "marked wrong" in window.statusBar().currentMessage()

    h.save(str(tmp_path / "d.csv"))
    with open(tmp_path / "d.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["command"] for r in rows] == ["yes", "no"]
    assert (rows[0]["clip"], rows[0]["mark"], rows[0]["marked_as"]) == (row.clip, "wrong", "_unknown_")
    assert (rows[1]["clip"], rows[1]["mark"], rows[1]["marked_as"]) == ("", "", "")


def test_relabel_mark_right_and_clear_move_the_kept_take(window, qtbot, data_home):
    h = window.history
    h.words = ["yes", "no", "go"]
    detected_with_clip(window, qtbot, "yes", 1.0)
    menu = h.mark_menu(0)
    wrong = next(a.menu() for a in menu.actions() if a.menu() is not None)
    texts = [a.text() for a in wrong.actions() if a.text()]
    assert "“yes”" not in texts and "“go”" in texts  # it was another word, not the one heard
    next(a for a in wrong.actions() if a.text() == "“go”").trigger()
    first = h.rows[0].take
    assert os.path.dirname(first) == str(data_home / "marked" / "go") and h.table.item(0, 6).text() == "✗ wrong → go"

    h.mark_right(h.rows[0].n)  # changed its mind: the "go" take goes, a "yes" take comes
    assert not os.path.exists(first) and h.rows[0].take.startswith(str(data_home / "marked" / "yes"))
    assert h.table.item(0, 6).text() == "✓ right"
    clear = next(a for a in h.mark_menu(0).actions() if a.text() == "Clear the mark")
    kept = h.rows[0].take
    clear.trigger()
    assert not os.path.exists(kept) and h.rows[0].mark == "" and h.table.item(0, 6).text() == ""
    assert marks.marked_takes() == []


def test_a_clip_gone_from_its_folder_cannot_be_marked_and_says_why(window, qtbot):
    row = detected_with_clip(window, qtbot, "yes", 1.0)
    os.remove(row.clip)
    window.history.mark_wrong(row.n)
    assert window.history.rows[0].mark == "" and marks.marked_takes() == []
    message = window.statusBar().currentMessage()
    assert os.path.basename(row.clip) in message and "\n" not in message


def test_train_on_my_voice_lists_marked_takes_and_gives_them_to_the_finetune(window, qtbot, data_home, tmp_path,
                                                                             model_dir, monkeypatch):
    from kwsapp.core.wavio import write_wav
    from kwsapp.gui.voice import finetunerun
    from kwsapp.gui.voice.dialog import VoiceTrainDialog

    detected_with_clip(window, qtbot, "yes", 1.0)
    window.history.mark_wrong(window.history.rows[0].n)
    d = VoiceTrainDialog(model_dir, "no such device")
    qtbot.addWidget(d)
    d.user_edit.setText("tester")
    takes = data_home / "my_voice"
    assert d.takes_dir == str(takes)
    items = [d.marked.list.item(i).text() for i in range(d.marked.list.count())]
    assert items == [f"as “unknown”: {marks.marked_speaker()}_nohash_0.wav"]
    assert d.marked.include.isChecked() and "1 detection you marked" in d.marked.include.text()

    (takes / "yes").mkdir(parents=True)  # one recorded take beside the marked one
    write_wav(str(takes / "yes" / f"{d.speaker}_nohash_0.wav"), said()[:16000])
    (tmp_path / "base").mkdir()
    d.base_edit.setText(str(tmp_path / "base"))
    started = []
    monkeypatch.setattr(finetunerun.FinetuneRun, "start", lambda self: started.append(self.argv))
    assert d.start_finetune()
    argv = started[0]
    user_data = argv[argv.index("--user-data") + 1]
    assert user_data != str(takes)  # both folders, staged as one
    assert sorted(os.listdir(os.path.join(user_data, "_unknown_"))) == [f"{marks.marked_speaker()}_nohash_0.wav"]
    assert os.listdir(os.path.join(user_data, "yes")) == [f"{d.speaker}_nohash_0.wav"]
    d.run._finished(1, QtCore.QProcess.ExitStatus.NormalExit)  # as when the trainer ends
    assert not os.path.exists(user_data)  # the staging folder goes; the takes stay
    assert marks.marked_takes() and os.listdir(takes / "yes")

    d.marked.include.setChecked(False)  # unticked: the takes folder alone, as before
    assert d.start_finetune()
    assert started[1][started[1].index("--user-data") + 1] == str(takes)
