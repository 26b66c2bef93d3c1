"""Saved clips in the window (issue 18, "In the window"): each detection's audio saved in the
chosen folder off the GUI thread, a ▶ in its history row that plays it, KWSAPP_CLIP for the
command; and the engine side: every detection arrives with its own audio."""
from __future__ import annotations

import os
import stat
from types import SimpleNamespace

import numpy as np
import pytest
import pytestqt  # noqa: E402,F401  (a missing pytest-qt must fail, not skip these tests)

from kwsapp.gui.actions.actionstab import WordAction  # noqa: E402
from kwsapp.gui.listening.bridge import Heard  # noqa: E402
from kwsapp.gui.settings.store import Store, open_settings  # noqa: E402


@pytest.fixture
def window(qtbot, tmp_path, model_dir):
    from kwsapp.gui.window import MainWindow

    w = MainWindow(Store(open_settings(str(tmp_path / "s.ini"))), model_dir=model_dir, autostart=False)
    qtbot.addWidget(w)
    w.show()
    yield w
    w.shutdown()


def heard(w, t: float, label: str, score: float, audio):
    """As the controller delivers it: the detection with its clip."""
    det = SimpleNamespace(stream_time_s=t, label=label, score=score)
    w._on_heard(Heard(det, audio))
    return det


def test_clip_saved_played_from_the_history_and_given_to_the_command(window, qtbot, tmp_path):
    from kwsapp.core.wavio import read_wav

    script = tmp_path / "env"
    script.write_text("#!/bin/sh\nprintf %s \"$KWSAPP_CLIP\" > \"$1\"\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    clips = tmp_path / "clips"
    window.set_actions({"yes": WordAction(f"{script} {tmp_path / 'clip.txt'}")}, clips_folder=str(clips))
    audio = (0.2 * np.sin(np.arange(24000) / 5.0)).astype(np.float32)
    heard(window, 2.0, "yes", 0.9, audio)
    qtbot.waitUntil(lambda: window.history.rows[-1].clip != "", timeout=5000)
    path = window.history.rows[-1].clip
    assert os.path.dirname(path) == str(clips) and "_yes_0.90" in os.path.basename(path)
    samples, rate = read_wav(path)
    assert rate == 16000 and len(samples) == 24000 and np.allclose(samples[:, 0], audio, atol=1e-3)
    h = window.history
    assert not h.play_button.isEnabled()  # nothing selected yet
    h.table.selectRow(0)
    assert h.play_button.isEnabled() and not h.table.item(0, 2).icon().isNull()
    h.play_button.click()
    assert window.clip_player.played == path and window.clip_player.effect.source().toLocalFile() == path
    window.clip_player.played = None
    h.table.cellDoubleClicked.emit(0, 0)
    assert window.clip_player.played == path
    qtbot.waitUntil(lambda: (tmp_path / "clip.txt").exists() and (tmp_path / "clip.txt").read_text() == path,
                    timeout=5000)


def test_no_folder_no_clip_and_a_later_row_keeps_its_own_clip(window, qtbot, tmp_path):
    audio = np.zeros(24000, np.float32)
    heard(window, 1.0, "no", 0.8, audio)  # no folder chosen: nothing saved
    window.set_actions({}, clips_folder=str(tmp_path / "c"))
    heard(window, 3.0, "go", 0.8, audio)
    qtbot.waitUntil(lambda: window.history.rows[-1].clip != "", timeout=5000)
    h = window.history
    assert h.rows[0].clip == "" and h.clip_at(1) == "" and h.clip_at(0) == h.rows[-1].clip
    h.table.selectRow(1)
    assert not h.play_button.isEnabled()
    assert os.listdir(tmp_path / "c") == [os.path.basename(window.history.rows[-1].clip)]


def test_engine_sends_each_detection_with_its_own_audio(data_dir, model_dir, tmp_path):
    from test_gui import build_words_wav

    from kwsapp.gui.listening import engine_api
    from kwsapp.gui.listening.engine_api import SourceSpec

    wav = str(tmp_path / "words.wav")
    build_words_wav(data_dir, wav)
    events = []
    bridge = SimpleNamespace(on_hop=lambda r: None, on_error=events.append, on_finished=lambda: None,
                             on_detection=lambda det, clip: events.append((det, clip)))
    engine = engine_api.make_engine(SourceSpec("file", path=wav, realtime=False), model_dir,
                                    engine_api.model_smoothing(model_dir), bridge)
    engine.start()
    assert engine.wait(60)
    engine.stop()
    assert len(events) >= 3
    for det, audio in events:
        assert len(audio) == 24000 and np.abs(audio).max() > 0.01  # 1.5 s with the word in it
