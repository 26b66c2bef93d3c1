"""Train on my voice: takes recorded from the virtual microphone, the dialog driving a real
fine-tune (tiny data, one epoch), the live stream switching to the new model, cancel."""
from __future__ import annotations

import os
import re

import numpy as np
import pytest
import pytestqt  # noqa: F401  (plain import: a missing pytest-qt must fail, not skip)
from pulse import virtual_mic  # noqa: E402,F401
from PyQt6 import QtCore  # noqa: E402

from kwsapp.core.model import read_config  # noqa: E402
from kwsapp.core.wavio import load_audio, read_wav, write_wav  # noqa: E402
from kwsapp.gui.listening.engine_api import SourceSpec  # noqa: E402
from kwsapp.gui.settings.store import Store, open_settings  # noqa: E402
from kwsapp.gui.voice import recorder as R  # noqa: E402
from tests.conftest import make_tiny_dataset, tone  # noqa: E402
from tests.test_finetune import _digest  # noqa: E402  (a model folder's fingerprint)

NEW_LABELS = "yes,no,up,down,left,right,on,off,stop,lights"


def _centre_s(x, rate=16000):
    e = x.astype(np.float64) ** 2
    return float(np.sum(np.arange(len(x)) * e) / e.sum()) / rate


# ---------------------------------------------------------------- cutting and naming takes

def test_take_is_centred_on_the_speech_and_keeps_the_room():
    rng = np.random.default_rng(3)
    x = (0.003 * rng.standard_normal(int(1.8 * 16000))).astype(np.float32)
    x[9600:16000] += tone(440, 0.4, level=0.3)  # 0.6-1.0 s
    clip, speech = R.centre_on_speech(x)
    assert speech and clip.shape == (16000,) and clip.dtype == np.float32
    assert _centre_s(clip) == pytest.approx(0.5, abs=0.03)
    assert np.abs(clip).max() == pytest.approx(np.abs(x).max())  # no rescaling
    assert np.abs(clip[:1000]).max() > 0  # the room's noise stays, no digital silence

    early = x.copy()
    early[9600:16000] = x[:6400]
    early[800:7200] += tone(440, 0.4, level=0.3)  # 0.05-0.45 s: cannot be centred, but stays whole
    clip, speech = R.centre_on_speech(early)
    assert speech and np.array_equal(clip, early[:16000])

    quiet = (0.003 * rng.standard_normal(int(1.8 * 16000))).astype(np.float32)
    clip, speech = R.centre_on_speech(quiet)
    assert not speech and np.array_equal(clip, quiet[6400:22400])

    long = np.zeros(int(2.0 * 16000), np.float32)
    long[1600:25600] = tone(300, 1.5, level=0.05)  # 1.5 s of speech, loudest near the end
    long[20000:24000] = tone(300, 0.25, level=0.5)
    clip, speech = R.centre_on_speech(long)
    assert speech and len(clip) == 16000
    assert np.abs(clip).max() == pytest.approx(0.5, abs=0.01)


def test_speaker_ids_names_and_folders(tmp_path):
    sid = R.speaker_id("Ada Lovelace")
    assert re.fullmatch(r"[0-9a-f]{8}", sid)
    assert sid == R.speaker_id(" ada lovelace ") and sid != R.speaker_id("Grace")
    folder = str(tmp_path)
    assert R.next_take_path(folder, "yes", sid) == os.path.join(folder, "yes", f"{sid}_nohash_0.wav")
    os.makedirs(tmp_path / "yes")
    for n in (0, 3):
        write_wav(tmp_path / "yes" / f"{sid}_nohash_{n}.wav", np.zeros(16000, np.float32))
    write_wav(tmp_path / "yes" / "0badcafe_nohash_7.wav", np.zeros(16000, np.float32))  # someone else
    assert [os.path.basename(p) for p in R.take_paths(folder, "yes", sid)] == \
        [f"{sid}_nohash_0.wav", f"{sid}_nohash_3.wav"]
    assert R.next_take_path(folder, "yes", sid).endswith(f"{sid}_nohash_4.wav")
    assert R.default_takes_dir({"KWSAPP_DATA": "/x/k"}) == os.path.join("/x/k", "my_voice")
    assert R.models_home({"XDG_DATA_HOME": "/x/share"}) == os.path.join("/x/share", "kwsapp", "models")


# ---------------------------------------------------------------- recording from the virtual microphone

@pytest.mark.audio
def test_dialog_records_16k_mono_takes_from_the_virtual_microphone(virtual_mic, qtbot, data_dir, model_dir,
                                                                  tmp_path):
    from kwsapp.gui.voice.dialog import VoiceTrainDialog

    with open(os.path.join(data_dir, "testing_list.txt")) as f:
        names = [l.strip() for l in f if l.startswith(("yes/", "no/"))]
    said = {w: load_audio(os.path.join(data_dir, next(n for n in names if n.startswith(w + "/"))), 16000)
            for w in ("yes", "no")}
    for w, x in said.items():
        write_wav(tmp_path / f"{w}.wav", x)

    d = VoiceTrainDialog(model_dir, virtual_mic.device, countdown_s=1)
    qtbot.addWidget(d)
    d.takes_edit.setText(str(tmp_path / "takes"))
    d.user_edit.setText("tester")
    playing = []
    d.recorder.recording.connect(lambda: playing.append(virtual_mic.play(tmp_path / f"{playing_word[0]}.wav",
                                                                         wait=False)))
    playing_word = ["yes"]
    with qtbot.waitSignal(d.recorder.opened, timeout=15000):
        d.tabs.setCurrentIndex(1)  # opening the Record tab opens the microphone
    assert d.word == "yes" and "yes" in d.prompt.text()
    d.recorder.take_s = 2.0  # room for PulseAudio's playback latency
    with qtbot.waitSignal(d.recorder.saved, timeout=15000) as saved:
        assert d.record_take()
    path, speech = saved.args
    sid = R.speaker_id("tester")
    assert path == str(tmp_path / "takes" / "yes" / f"{sid}_nohash_0.wav") and speech
    samples, rate = read_wav(path)
    assert rate == 16000 and samples.shape == (16000, 1)
    take = samples[:, 0]
    assert _centre_s(take) == pytest.approx(0.5, abs=0.15)
    src = said["yes"]
    xc = np.correlate(take, src, "full") / (np.linalg.norm(take) * np.linalg.norm(src))
    assert xc.max() > 0.8  # the very clip that was played, not noise
    assert "1/10" in d.word_list.item(0).text()

    # Redo replaces the selected take with a new recording (here: "no" played instead).
    playing_word[0] = "no"
    d.take_list.setCurrentRow(0)
    with qtbot.waitSignal(d.recorder.saved, timeout=15000) as saved:
        d.redo_take()
    assert saved.args[0] == path and len(R.take_paths(str(tmp_path / "takes"), "yes", sid)) == 1
    redone = read_wav(path)[0][:, 0]
    src = said["no"]
    assert (np.correlate(redone, src, "full") / (np.linalg.norm(redone) * np.linalg.norm(src))).max() > 0.8

    d.take_list.setCurrentRow(0)
    d.drop_take()
    assert not os.path.exists(path) and "0/10" in d.word_list.item(0).text()
    d.reject()  # closes the microphone
    assert d.recorder.mic is None
    for p in playing:
        p.wait(10)


# ---------------------------------------------------------------- fine-tuning from the dialog

@pytest.fixture(scope="module")
def voice_data(tmp_path_factory):
    """Tiny base data and the takes of user 'tester' (a chirp per word, as in the base data)."""
    root = tmp_path_factory.mktemp("voice")
    base = make_tiny_dataset(str(root / "base"), speakers=4)
    takes = str(root / "data" / "my_voice")
    sid = R.speaker_id("tester")
    rng = np.random.default_rng(5)
    for wi, word in enumerate(("yes", "no", "lights", "bed", R.SILENCE_WORD)):
        os.makedirs(os.path.join(takes, word))
        for n in range(3):
            x = 0.003 * rng.standard_normal(16000).astype(np.float32)
            if word != R.SILENCE_WORD:
                x[5000:13000] += tone(330 + 150 * wi, 0.5, level=0.3)
            write_wav(os.path.join(takes, word, f"{sid}_nohash_{n}.wav"), x)
    return root, base, takes


@pytest.fixture
def window_and_dialog(qtbot, tmp_path, voice_data, model_dir, monkeypatch):
    from kwsapp.gui.window import MainWindow

    root, base, takes = voice_data
    monkeypatch.setenv("KWSAPP_DATA", str(root / "data"))
    store = Store(open_settings(str(tmp_path / "settings.ini")))
    # An input that fails at once: these tests are about the model, not the audio.
    w = MainWindow(store, spec=SourceSpec("mic", device="no such device"), model_dir=model_dir, autostart=False)
    qtbot.addWidget(w)
    w.open_voice_training()
    d = w.voice_dialog
    d.extra_finetune_args = ("--batch-size", "16")
    d.user_edit.setText("tester")
    d.takes_edit.setText(takes)
    d.base_edit.setText(base)
    d.labels_edit.setText(NEW_LABELS)
    d.epochs_spin.setValue(1)
    yield w, d
    w.shutdown()
    # a model switch starts an engine in a starter thread: let it end before the window goes
    qtbot.waitUntil(lambda: not any(t.is_alive() for t in w.controller.starters), timeout=60000)


def _new_hops_from(w, qtbot, labels_has: str):
    """Wait for the running engine to be one whose labels include ``labels_has`` and to
    deliver a hop after that; returns the engine."""
    qtbot.waitUntil(lambda: w.controller.engine is not None and labels_has in w.controller.engine.labels, timeout=60000)
    engine, w._latest = w.controller.engine, None
    qtbot.waitUntil(lambda: w._latest is not None, timeout=30000)
    assert w.controller.engine is engine and engine.running and len(w._latest.scores) == len(engine.labels)
    return engine


def test_dialog_finetunes_and_the_window_switches_to_the_new_model(window_and_dialog, qtbot, model_dir, tmp_path,
                                                                  monkeypatch):
    import importlib.util

    w, d = window_and_dialog
    bundled = _digest(model_dir)
    # A live stream (a real-time file outlasting the fine-tune) runs while the dialog trains:
    # the new model must take over that stream, not wait for a restart.
    live = str(tmp_path / "room.wav")
    write_wav(live, 0.003 * np.random.default_rng(1).standard_normal(600 * 16000).astype(np.float32))
    w.start(SourceSpec("file", path=live, realtime=True))
    old_engine = _new_hops_from(w, qtbot, "go")
    d.tabs.setCurrentIndex(2)
    real_find = importlib.util.find_spec
    with monkeypatch.context() as m:  # an install without the train extra: one line says what to install
        m.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorflow" else real_find(name, *a))
        assert not d.start_finetune() and d.run is None
        assert d.train_status.text() == "training needs TensorFlow, which is not installed: pip install 'kwsapp[train]'"
    d.labels_edit.setText("yes,no,up,down,left,right,on,off,stop,lamp")  # a new word without takes
    assert not d.start_finetune() and "lamp" in d.train_status.text() and d.run is None
    d.labels_edit.setText(NEW_LABELS)
    d.name_edit.setText("mine")
    progress = []
    assert d.start_finetune()
    d.run.progress.connect(lambda k, n: progress.append((k, n)))
    assert d.cancel_button.isEnabled() and not d.start_button.isEnabled()
    qtbot.waitUntil(lambda: not d.run.running, timeout=240000)
    qtbot.waitUntil(lambda: d.start_button.isEnabled(), timeout=5000)
    out = os.path.join(os.environ["KWSAPP_DATA"], "models", "mine")
    assert d.new_model == out, d.train_status.text()
    assert progress == [(0, 1), (1, 1)], d.run.lines  # training began, then its one epoch ended
    assert d.progress.value() == d.progress.maximum()
    assert read_config(out).labels[-1] == "lights"
    assert os.path.exists(os.path.join(out, "finetune.json"))
    assert re.search(r"held out.*\n.*\d+% before, \d+% after", d.report.text()), d.report.text()
    # the app uses the new model and shows its labels, on the stream that was running
    assert w.model_dir == out and w.store.model_dir == out
    assert "lights" in w.scores.labels and "go" not in w.scores.labels
    mine = _new_hops_from(w, qtbot, "lights")
    assert mine is not old_engine and not old_engine.running and mine.source.path == live
    assert _digest(model_dir) == bundled
    # ... and switches back without restarting
    w.bundled_action.trigger()
    assert w.model_dir == model_dir and "go" in w.scores.labels and w.store.model_dir is None
    assert _new_hops_from(w, qtbot, "go") is not mine and not mine.running


def test_cancelled_finetune_leaves_nothing(window_and_dialog, qtbot, model_dir):
    w, d = window_and_dialog
    d.tabs.setCurrentIndex(2)
    d.name_edit.setText("cancelled")
    d.epochs_spin.setValue(50)
    models = os.path.join(os.environ["KWSAPP_DATA"], "models")
    assert d.start_finetune()
    started = []
    d.run.progress.connect(lambda k, n: started.append((k, n)))
    qtbot.waitUntil(lambda: bool(started) or not d.run.running, timeout=240000)
    assert started[0] == (0, 50), d.train_status.text()  # {"event": "start", "epochs": 50}
    # The start event comes as the model is built, just before training creates its folder.
    qtbot.waitUntil(lambda: any(n.startswith("cancelled.partial-") for n in os.listdir(models)), timeout=60000)
    d.cancel_button.click()
    qtbot.waitUntil(lambda: not d.run.running, timeout=30000)
    qtbot.waitUntil(lambda: d.start_button.isEnabled(), timeout=5000)
    assert "Cancelled" in d.train_status.text()
    assert not [n for n in os.listdir(models) if n.startswith("cancelled")]
    assert w.model_dir == model_dir and d.new_model is None


def test_a_microphone_that_cannot_open_is_one_line_and_closed(qtbot):
    rec = R.TakeRecorder("no such device")
    with qtbot.waitSignal(rec.failed, timeout=15000) as failed:
        rec.open()
    message = failed.args[0]
    assert "\n" not in message and "Traceback" not in message
    assert "input device" in message  # it says what is wrong: no (matching) input device
    assert rec.mic is None and not rec.is_open and not rec.record("/nonexistent/x.wav")


@pytest.mark.parametrize("quitting", [False, True])
def test_closing_during_a_stuck_finetune_kills_it_and_tidies_up(qtbot, tmp_path, monkeypatch, quitting, model_dir):
    """A fine-tune that ignores SIGTERM must not hold the closing dialog for long, and what it
    half-wrote is removed; when the whole app quits, the wait is the shorter QUIT_WAIT_MS."""
    import sys

    from kwsapp.gui.voice import dialog as V
    from kwsapp.gui.voice import finetunerun

    out = str(tmp_path / "models" / "mine")
    script = ("import os, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
              f"os.makedirs({out!r} + '.partial-123'); print('ready', flush=True); time.sleep(120)")
    run = finetunerun.FinetuneRun([sys.executable, "-c", script], out, epochs=1)
    run.start()
    qtbot.waitUntil(lambda: os.path.exists(out + ".partial-123"), timeout=30000)
    dialog = type("D", (), {"recorder": type("R", (), {"close": lambda self: None})(), "run": run})()
    waits = []
    cancel = run.cancel
    monkeypatch.setattr(run, "cancel", lambda wait_ms=0: waits.append(wait_ms) or cancel(wait_ms))
    if quitting:  # the window ends the app: it hands the dialog the shorter wait
        from kwsapp.gui.window import MainWindow

        w = MainWindow(Store(open_settings(str(tmp_path / "s.ini"))), model_dir=model_dir, autostart=False)
        qtbot.addWidget(w)
        dialog.shutdown = lambda wait_ms=V.CLOSE_WAIT_MS: V.VoiceTrainDialog.shutdown(dialog, wait_ms)
        w.voice_dialog = dialog
        w.shutdown()
    else:
        V.VoiceTrainDialog.shutdown(dialog)
    assert waits == [V.QUIT_WAIT_MS if quitting else V.CLOSE_WAIT_MS]
    assert not run.running
    assert not os.path.exists(out + ".partial-123")


# ---------------------------------------------------------------- issue 21: what the dialog says and counts

def _finish_take(rec, path, x, speech=True):
    """What the recorder does at the end of a take, on ``x`` as the recorded audio (no microphone)."""
    from kwsapp.audio.ringbuffer import RingBuffer

    rec.ring = RingBuffer(4 * 16000)
    rec.ring.write(x)
    rec._job, rec._from, rec._until = (path, speech), 0, len(x)
    rec._finish()


@pytest.fixture
def dialog(qtbot, tmp_path, model_dir):
    from kwsapp.gui.voice.dialog import VoiceTrainDialog

    d = VoiceTrainDialog(model_dir, "no such device", countdown_s=0)
    qtbot.addWidget(d)
    d.takes_edit.setText(str(tmp_path / "takes"))
    d.user_edit.setText("tester")
    d.tabs.setCurrentIndex(1)
    yield d
    if d.run is not None:  # else closing the dialog would ask (a modal nobody answers here)
        d.run.cancel(wait_ms=3000)
    d.recorder.close()


def _said(level=0.3):
    x = (0.003 * np.random.default_rng(1).standard_normal(24000)).astype(np.float32)
    if level:
        x[8000:16000] += tone(440, 0.5, level=level)
    return x


def test_silent_take_is_not_counted_is_marked_and_redo_replaces_it(dialog, monkeypatch):
    d = dialog
    assert d.word == "yes"
    first = R.next_take_path(d.takes_dir, "yes", d.speaker)
    _finish_take(d.recorder, first, _said())
    second = R.next_take_path(d.takes_dir, "yes", d.speaker)
    _finish_take(d.recorder, second, _said(level=0))  # nothing said
    assert len(R.take_paths(d.takes_dir, "yes", d.speaker)) == 1  # the silent take does not count ...
    assert "1/10" in d.word_list.item(0).text()
    items = [d.take_list.item(i).text() for i in range(d.take_list.count())]
    assert items[0].startswith("Take 1 ") and items[1].startswith("Take 2 — no speech heard")  # ... is marked
    assert "not counted" in d.status.text() and "Redo" in d.status.text()
    assert d.take_list.currentRow() == 1 and d.focusWidget() is d.redo_button  # ... and Redo is offered
    from kwstrain.finetune import user_clips

    assert [os.path.basename(c.path) for c in user_clips(d.takes_dir, ("yes",))] == [os.path.basename(first)]
    # Redo of the marked take: recorded into its own slot, the mark goes.
    d.recorder.record = lambda path, speech=True: _finish_take(d.recorder, path, _said(), speech) or True
    monkeypatch.setattr(R.TakeRecorder, "is_open", property(lambda self: True))
    d.redo_take()
    assert R.take_paths(d.takes_dir, "yes", d.speaker) == [first, second] and not R.silent_paths(
        d.takes_dir, "yes", d.speaker)
    assert d.status.text().startswith("Take 2 of “yes” saved (2/10)")


def test_takes_are_numbered_under_their_word_and_other_words_are_explained(dialog):
    d = dialog
    d.per_word_spin.setValue(2)
    for _ in range(2):
        _finish_take(d.recorder, R.next_take_path(d.takes_dir, "yes", d.speaker), _said())
    # The second take finished "yes": the prompt moves on and the status says which word was done.
    assert d.word == "no" and d.status.text().startswith("“yes” done (2 takes). Next: Say “no”")
    d.word_list.setCurrentRow(0)
    d.per_word_spin.setValue(5)
    _finish_take(d.recorder, R.next_take_path(d.takes_dir, "yes", d.speaker), _said())
    assert d.status.text().startswith("Take 3 of “yes” saved")
    d.word_list.setCurrentRow(2)  # the user picks another word: no word's message under its prompt
    assert d.status.text() == "" and "up" in d.prompt.text()
    d.word_list.setCurrentRow(0)
    assert [d.take_list.item(i).text().split()[:2] for i in range(2)] == [["Take", "1"], ["Take", "2"]]
    assert "dB" in d.take_list.item(0).text() and not d.take_list.item(0).icon().isNull()
    assert d.why_note.text() == ""  # a command needs no explanation
    bed = next(i for i in range(d.word_list.count())
               if d.word_list.item(i).data(QtCore.Qt.ItemDataRole.UserRole) == "bed")
    d.word_list.setCurrentRow(bed)
    assert "unknown" in d.why_note.text() and "bed, cat, house" in d.why_note.text()


def test_report_names_labels_readably_and_warns_about_few_held_out_takes():
    from kwsapp.gui.voice.dialog import MIN_HELD_OUT, describe_report

    per = {"_silence_": 1.0, "_unknown_": 1.0, "yes": 1.0}
    r = {"labels": ["_silence_", "_unknown_", "yes"], "user_takes": 70, "user_train_takes": 56,
         "held_out_takes": 14, "before": {"accuracy": 1.0, "per_class": per}, "after": {"accuracy": 1.0,
                                                                                      "per_class": per}}
    text = describe_report(r)
    assert "Labels: silence, unknown, yes" in text and "_silence_" not in text
    assert "Only 14 takes were held out" in text and "says little" in text
    r["held_out_takes"] = MIN_HELD_OUT
    assert "says little" not in describe_report(r)


def test_time_estimate_before_start_and_focus_on_cancel_and_close_asks(qtbot, dialog, monkeypatch):
    import sys

    from PyQt6 import QtWidgets

    from kwsapp.gui.voice import dialog as V

    d = dialog
    d.tabs.setCurrentIndex(2)
    d.epochs_spin.setValue(8)
    assert "about 4 min" in d.estimate_label.text()
    assert not d.close_button.autoDefault() and not d.close_button.isDefault()
    # A stand-in for the trainer that runs until it is stopped.
    monkeypatch.setattr(V, "finetune_command", lambda *a: [sys.executable, "-c", "import time; time.sleep(60)"])
    monkeypatch.setattr(d, "_check_finetune", lambda: None)
    d.show()
    d.start_button.setFocus()
    assert d.start_finetune()
    assert d.focusWidget() is d.cancel_button  # Enter now cannot close the dialog
    qtbot.waitUntil(lambda: d.run.running, timeout=10000)
    asked = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "question",
                        lambda *a, **k: asked.append(a) or QtWidgets.QMessageBox.StandardButton.Cancel)
    d.reject()
    assert asked and d.isVisible() and d.run.running  # asked first; "Cancel" keeps it training
    monkeypatch.setattr(QtWidgets.QMessageBox, "question", lambda *a, **k: QtWidgets.QMessageBox.StandardButton.Close)
    d.reject()
    assert not d.isVisible() and not d.run.running


def test_progress_comes_from_the_json_lines_not_from_keras_text(qtbot, tmp_path):
    """The dialog's progress bar and report follow --progress json's events; Keras's "Epoch k/N"
    text (on stderr, or stray on stdout) moves nothing."""
    import json
    import sys

    from kwsapp.gui.voice import finetunerun

    assert finetunerun.finetune_command("m", "t", "b", "o", ["yes"], 2)[-2:] == ["--progress", "json"]
    report = {"labels": ["_silence_", "_unknown_", "yes"], "user_takes": 3}
    lines = ["Epoch 1/9", json.dumps({"event": "start", "epochs": 2}),
             json.dumps({"event": "epoch", "epoch": 1, "epochs": 2, "val_accuracy": 0.5}), "Epoch 2/9",
             json.dumps({"event": "epoch", "epoch": 2, "epochs": 2, "val_accuracy": 0.75}),
             json.dumps({"event": "done", "out": "o", "report": report})]
    script = ("import sys; sys.stderr.write('Epoch 1/2\\n1/1 - 3s - loss: 0.5\\n'); "
              f"print('\\n'.join({lines!r}))")
    run = finetunerun.FinetuneRun([sys.executable, "-c", script], str(tmp_path / "out"), epochs=7)
    progress = []
    run.progress.connect(lambda k, n: progress.append((k, n)))
    with qtbot.waitSignal(run.done, timeout=30000) as done:
        run.start()
    assert done.args == [report, ""]
    assert progress == [(0, 2), (1, 2), (2, 2)]
    # A run that exits cleanly without its done event has no report to show: said so.
    run = finetunerun.FinetuneRun([sys.executable, "-c", "print('Epoch 1/1')"], str(tmp_path / "out"), epochs=1)
    with qtbot.waitSignal(run.done, timeout=30000) as done:
        run.start()
    assert done.args[0] is None and "without its report" in done.args[1]
