"""The "Train on my voice" dialog: choose the words, record takes, fine-tune, switch.

Three tabs. *Words*: the user's name (hashed into the speaker id), the recordings folder
and the command words, which may be renamed (``go`` -> ``lights``). *Record*: a prompt per
command word, a few other words and silence, with countdown, level meter, play, redo and
drop (:mod:`.recorder`). *Fine-tune*: ``kws-train finetune`` in a background QProcess
(the trainer is a separate process: TensorFlow training must not share the GUI's
interpreter, and cancelling is a plain SIGTERM that the command turns into a clean exit
leaving nothing behind), with a progress bar from its JSON progress lines and the
before/after report they end with (:mod:`.finetunerun`). The detections marked right or wrong in the window's history
(:mod:`.marks`) are listed there and trained on too, staged with the takes into one folder.
The new model goes to its own folder under :func:`.recorder.models_home`; ``model_trained``
hands it to the window.
"""
from __future__ import annotations

import datetime
import os
import re
import tempfile

from PyQt6 import QtCore, QtGui, QtWidgets

from ...core.errors import TRAIN_EXTRA_HINT, KwsError
from ...core.model import read_config
from ...core.vocabulary import COMMANDS, DATA_DIR_ENV, DEFAULT_DATA_DIR, SILENCE, UNKNOWN, parse_commands
from ..actions import marks
from ..live.scores import display_name
from . import recorder as R
from .finetunerun import FinetuneRun, finetune_command, remove_partials
from .markedpanel import MarkedTakesPanel
from .takeicon import take_icon

# A few of the dataset's other words (they train _unknown_), and silence.
OTHER_WORDS = ("bed", "cat", "house", "happy", "marvin")
OTHERS_SHOWN = 3
DEFAULT_TAKES = 10
# Closing the dialog waits at most this long (the window is blocked meanwhile) before killing:
# a fine-tune normally exits within a training step of SIGTERM, and remove_partials tidies up
# after a kill.
CLOSE_WAIT_MS = 3000
# The whole app is ending (Ctrl+Q, Quit): it must be gone within a second, so a fine-tune gets
# this long before it is killed; remove_partials tidies up after the kill as after a stuck one.
QUIT_WAIT_MS = 500
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# Below this many held-out takes one take moves the before/after figure by more than 5 points:
# the report says the test means little.
MIN_HELD_OUT = 20
# The time estimate: docs/experiments/finetune-voice.md measured about 30 s of start-up, reading and
# testing and 20-30 s per epoch on the shared 2-core machine with the shared base data.
START_S, EPOCH_S = 30, 25


def estimate_text(epochs: int) -> str:
    total = START_S + EPOCH_S * epochs
    rough = f"about {max(1, round(total / 60))} min" if total >= 90 else f"about {total} s"
    return f"Takes {rough} on a 2-core computer ({EPOCH_S} s per epoch); longer while other programs run."


def command_words(model_dir: str) -> tuple[str, ...]:
    return tuple(l for l in read_config(model_dir).labels if l not in (SILENCE, UNKNOWN))


def prompt_words(commands) -> list[str]:
    """What to record: the commands, a few other words, silence."""
    others = [w for w in OTHER_WORDS if w not in commands][:OTHERS_SHOWN]
    return list(commands) + others + [R.SILENCE_WORD]


def default_base_data() -> str:
    """``$KWS_DATA_DIR``, else ``../shared/speech_commands`` from here or from the repository."""
    if os.environ.get(DATA_DIR_ENV):
        return os.environ[DATA_DIR_ENV]
    repo = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
    for d in (os.path.abspath(DEFAULT_DATA_DIR), os.path.normpath(os.path.join(repo, DEFAULT_DATA_DIR))):
        if os.path.isdir(d):
            return d
    return ""


def describe_report(r: dict) -> str:
    """The before/after report in plain words."""
    lines = [f"Labels: {', '.join(display_name(l) for l in r['labels'])}",
             f"Your takes: {r['user_takes']} ({r['user_train_takes']} trained on, "
             f"{r['held_out_takes']} held out to test)"]
    b, a = r.get("before"), r.get("after")
    if b and a:
        lines.append(f"Accuracy on the held-out takes: {100 * b['accuracy']:.0f}% before, "
                     f"{100 * a['accuracy']:.0f}% after")
        per = [f"{display_name(w)} {100 * b['per_class'].get(w):.0f}→{100 * acc:.0f}%"
               for w, acc in a["per_class"].items() if acc is not None and b["per_class"].get(w) is not None]
        if per:
            lines.append("Per word: " + ", ".join(per))
        n = r["held_out_takes"]
        if n < MIN_HELD_OUT:
            lines.append(f"Only {n} takes were held out, so one take moves this figure by {100 / n:.0f} points: "
                         "it says little. More takes per word make it a real test.")
    else:
        lines.append("No takes were held out (record at least two takes of a word to get a before/after test).")
    return "\n".join(lines)


def _browse_row(edit: QtWidgets.QLineEdit, parent, title: str) -> QtWidgets.QWidget:
    w = QtWidgets.QWidget()
    lay = QtWidgets.QHBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(edit, 1)
    b = QtWidgets.QPushButton("Browse…")

    def pick():
        d = QtWidgets.QFileDialog.getExistingDirectory(parent, title, edit.text())
        if d:
            edit.setText(d)

    b.clicked.connect(pick)
    lay.addWidget(b)
    return w


class VoiceTrainDialog(QtWidgets.QDialog):
    model_trained = QtCore.pyqtSignal(str)  # the new model folder

    def __init__(self, model_dir: str, device=None, parent=None, countdown_s: int = 3,
                 extra_finetune_args=(), marked_folder: str | None = None):
        """``marked_folder``: the detections marked in the history (default marks.marked_dir())."""
        super().__init__(parent)
        self.setWindowTitle("Train on my voice")
        self.model_dir = model_dir
        self.extra_finetune_args = tuple(extra_finetune_args)
        self.recorder = R.TakeRecorder(device, countdown_s=countdown_s, parent=self)
        self.run: FinetuneRun | None = None
        self.new_model: str | None = None
        self.marked_folder = marked_folder
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.addTab(self._words_tab(), "1. Words")
        self.tabs.addTab(self._record_tab(), "2. Record")
        self.tabs.addTab(self._train_tab(), "3. Fine-tune")
        self.tabs.currentChanged.connect(self._tab_changed)
        self.per_word_spin.valueChanged.connect(self._refresh_counts)
        close = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        button = close.button(QtWidgets.QDialogButtonBox.StandardButton.Close)
        assert button is not None  # the box was made with it
        self.close_button = button
        self.close_button.setAutoDefault(False)  # Enter must never close the dialog by accident
        self.close_button.setDefault(False)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self.tabs)
        lay.addWidget(close)
        self.recorder.opened.connect(lambda: self._set_status("Ready: press Record (R) and say the word."))
        self.recorder.level.connect(lambda db: self.level_bar.setValue(int(max(-60, min(0, db)))))
        self.recorder.countdown.connect(lambda s: self._set_status(f"Get ready… {s}"))
        self.recorder.recording.connect(self._on_recording)
        self.recorder.saved.connect(self._on_saved)
        self.recorder.failed.connect(self._on_record_failed)
        self.resize(640, 520)

    # ---------------------------------------------------------------- tab 1: words
    def _words_tab(self) -> QtWidgets.QWidget:
        w = QtWidgets.QWidget()
        form = QtWidgets.QFormLayout(w)
        self.user_edit = QtWidgets.QLineEdit(R.default_user_name())
        self.speaker_label = QtWidgets.QLabel()
        self.user_edit.textChanged.connect(self._refresh_speaker)
        self.takes_edit = QtWidgets.QLineEdit(R.default_takes_dir())
        try:
            words = command_words(self.model_dir)
        except KwsError:
            words = COMMANDS
        self.labels_edit = QtWidgets.QLineEdit(",".join(words))
        self.labels_edit.setToolTip("The command words in order, comma-separated. Rename one to teach a word "
                                    "of your own, e.g. replace go with lights.")
        self.per_word_spin = QtWidgets.QSpinBox()
        self.per_word_spin.setRange(2, 100)
        self.per_word_spin.setValue(DEFAULT_TAKES)
        self.words_error = QtWidgets.QLabel("")
        self.words_error.setStyleSheet("color: #c03030;")
        self.words_error.setWordWrap(True)
        nxt = QtWidgets.QPushButton("Next: record →")
        nxt.clicked.connect(lambda: self.tabs.setCurrentIndex(1))
        form.addRow("Your name", self.user_edit)
        form.addRow("", self.speaker_label)
        form.addRow("Recordings folder", _browse_row(self.takes_edit, self, "Folder for your takes"))
        form.addRow("Command words", self.labels_edit)
        form.addRow("", QtWidgets.QLabel("Rename a word to teach your own (e.g. go → lights); "
                                         "silence and unknown stay."))
        form.addRow("Takes per word", self.per_word_spin)
        form.addRow(self.words_error)
        form.addRow(nxt)
        self._refresh_speaker()
        return w

    def _refresh_speaker(self) -> None:
        self.speaker_label.setText(f"speaker id {self.speaker}: your takes are named {self.speaker}_nohash_<n>.wav")

    @property
    def speaker(self) -> str:
        return R.speaker_id(self.user_edit.text() or R.default_user_name())

    @property
    def takes_dir(self) -> str:
        return os.path.abspath(os.path.expanduser(self.takes_edit.text().strip() or R.default_takes_dir()))

    def commands(self) -> tuple[str, ...]:
        """The command words; KwsError with a one-line message if they are not usable."""
        return parse_commands(self.labels_edit.text() or None, ())

    # ---------------------------------------------------------------- tab 2: record
    def _record_tab(self) -> QtWidgets.QWidget:
        w = QtWidgets.QWidget()
        self.word_list = QtWidgets.QListWidget()
        self.word_list.setMaximumWidth(190)
        self.word_list.currentRowChanged.connect(self._word_chosen)
        self.prompt = QtWidgets.QLabel("")
        f = self.prompt.font()
        f.setPointSize(max(f.pointSize(), 10) * 2)
        f.setBold(True)
        self.prompt.setFont(f)
        self.prompt.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.status = QtWidgets.QLabel("")
        self.status.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.status.setWordWrap(True)
        self.why_note = QtWidgets.QLabel("")  # why it asks for words that are not commands
        self.why_note.setWordWrap(True)
        self.why_note.setStyleSheet("color: gray;")
        self.why_note.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.level_bar = QtWidgets.QProgressBar()
        self.level_bar.setRange(-60, 0)
        self.level_bar.setValue(-60)
        self.level_bar.setFormat("level %v dB")
        self.record_button = QtWidgets.QPushButton("Record (R)")
        self.record_button.clicked.connect(self.record_take)
        # PyQt6 connects a signal given as a keyword; its stubs do not list them.
        QtGui.QShortcut(QtGui.QKeySequence("R"), w, activated=self.record_take)  # type: ignore[call-overload]
        self.take_list = QtWidgets.QListWidget()
        self.play_button = QtWidgets.QPushButton("Play")
        self.redo_button = QtWidgets.QPushButton("Redo")
        self.drop_button = QtWidgets.QPushButton("Drop")
        self.play_button.clicked.connect(self.play_take)
        self.redo_button.clicked.connect(self.redo_take)
        self.drop_button.clicked.connect(self.drop_take)
        buttons = QtWidgets.QHBoxLayout()
        for b in (self.play_button, self.redo_button, self.drop_button):
            buttons.addWidget(b)
        nxt = QtWidgets.QPushButton("Next: fine-tune →")
        nxt.clicked.connect(lambda: self.tabs.setCurrentIndex(2))
        right = QtWidgets.QVBoxLayout()
        right.addWidget(self.prompt)
        right.addWidget(self.why_note)
        right.addWidget(self.status)
        right.addWidget(self.level_bar)
        right.addWidget(self.record_button)
        self.take_list.setIconSize(QtCore.QSize(64, 16))
        right.addWidget(QtWidgets.QLabel("Takes of this word (select one to play, redo or drop):"))
        right.addWidget(self.take_list, 1)
        right.addLayout(buttons)
        right.addWidget(nxt)
        lay = QtWidgets.QHBoxLayout(w)
        lay.addWidget(self.word_list)
        lay.addLayout(right, 1)
        return w

    def _fill_words(self) -> None:
        current = self.word
        self.word_list.blockSignals(True)
        self.word_list.clear()
        for word in prompt_words(self.commands()):
            item = QtWidgets.QListWidgetItem()
            item.setData(QtCore.Qt.ItemDataRole.UserRole, word)
            self.word_list.addItem(item)
        self.word_list.blockSignals(False)
        self._refresh_counts()
        words = [self._word_item(i).data(QtCore.Qt.ItemDataRole.UserRole) for i in range(self.word_list.count())]
        self.word_list.setCurrentRow(words.index(current) if current in words else 0)

    def _word_item(self, i: int) -> QtWidgets.QListWidgetItem:
        item = self.word_list.item(i)
        assert item is not None  # i < count()
        return item

    def _refresh_counts(self) -> None:
        target = self.per_word_spin.value()
        for i in range(self.word_list.count()):
            item = self._word_item(i)
            word = item.data(QtCore.Qt.ItemDataRole.UserRole)
            n = len(R.take_paths(self.takes_dir, word, self.speaker))
            name = "(silence)" if word == R.SILENCE_WORD else word
            item.setText(f"{'✓' if n >= target else ' '} {name}  {n}/{target}")

    @property
    def word(self) -> str | None:
        item = self.word_list.currentItem() if hasattr(self, "word_list") else None
        return item.data(QtCore.Qt.ItemDataRole.UserRole) if item else None

    def _word_chosen(self, _row=None) -> None:
        word = self.word
        if word is None:
            return
        self.prompt.setText("Stay quiet" if word == R.SILENCE_WORD else f"Say “{word}”")
        self.why_note.setText(self._why(word))
        self._set_status("")  # a message about the previous word must not stand under this one
        self._fill_takes()

    def _why(self, word: str) -> str:
        try:
            commands = self.commands()
        except KwsError:
            commands = ()
        if word == R.SILENCE_WORD:
            return "A few seconds of your room: the model learns what no word sounds like there."
        if word in commands:
            return ""
        others = ", ".join(w for w in prompt_words(commands) if w not in commands and w != R.SILENCE_WORD)
        return (f"Not a command: {others} are examples of “unknown”, so the model learns not to "
                "take other words of yours for commands.")

    def _fill_takes(self, select: str | None = None) -> None:
        self.take_list.clear()
        word = self.word
        if word is None:  # no word chosen yet: no takes to list
            return
        good = R.take_paths(self.takes_dir, word, self.speaker)
        silent = R.silent_paths(self.takes_dir, word, self.speaker)
        for p in sorted(good + silent, key=R.take_number):
            item = QtWidgets.QListWidgetItem()
            icon, db = take_icon(p)
            item.setIcon(icon)
            if p in silent:
                item.setText(f"Take {R.take_number(p)} — no speech heard, not counted: Redo it")
                item.setForeground(QtGui.QColor(192, 48, 48))
            else:
                item.setText(f"Take {R.take_number(p)}   {db:.0f} dB")
            item.setToolTip(p)
            item.setData(QtCore.Qt.ItemDataRole.UserRole, p)
            self.take_list.addItem(item)
            if p == select:
                self.take_list.setCurrentItem(item)

    def _selected_take(self) -> str | None:
        item = self.take_list.currentItem()
        return item.data(QtCore.Qt.ItemDataRole.UserRole) if item else None

    def record_take(self, path: str | None = None) -> bool:
        """Record the next take of the current word (or redo ``path``)."""
        if self.tabs.currentIndex() != 1 or self.word is None or self.recorder.busy:
            return False
        if not self.recorder.is_open:
            self.recorder.open()
            self._set_status("Opening the microphone… press Record again when the meter moves.")
            return False
        path = path or R.next_take_path(self.takes_dir, self.word, self.speaker)
        return self.recorder.record(path, speech=self.word != R.SILENCE_WORD)

    def play_take(self) -> None:
        p = self._selected_take()
        if p:
            try:
                R.play(p)
            except KwsError as e:
                self._set_status(str(e))

    def redo_take(self) -> None:
        p = self._selected_take()
        if p:  # a silent take is redone into its own take slot
            self.record_take(p[: -len(R.SILENT_SUFFIX)] if p.endswith(R.SILENT_SUFFIX) else p)

    def drop_take(self) -> None:
        p = self._selected_take()
        if p and os.path.exists(p):
            os.remove(p)
            self._fill_takes()
            self._refresh_counts()
            self._set_status(f"Dropped take {R.take_number(p)} of “{self.word}”.")

    def _on_recording(self) -> None:
        self._set_status("Recording — speak now" if self.word != R.SILENCE_WORD else "Recording — stay quiet")

    def _on_saved(self, path: str, speech: bool) -> None:
        self._refresh_counts()
        self._fill_takes(select=path)
        word, n = os.path.basename(os.path.dirname(path)), R.take_number(path)
        name = "silence" if word == R.SILENCE_WORD else f"“{word}”"
        if path.endswith(R.SILENT_SUFFIX):  # not counted: offer the redo at once
            self._set_status(f"Take {n} of {name}: no speech heard, so it is not counted. "
                             "Check the level meter, then Redo.")
            self.redo_button.setFocus()
            return
        count, target = len(R.take_paths(self.takes_dir, word, self.speaker)), self.per_word_spin.value()
        self._set_status(f"Take {n} of {name} saved ({count}/{target}).")
        if count >= target:
            row = self.word_list.currentRow()
            if row + 1 < self.word_list.count():
                self.word_list.setCurrentRow(row + 1)  # the prompt changes: say which word was finished
                self._set_status(f"{name} done ({count} takes). Next: {self.prompt.text()}.")

    def _on_record_failed(self, message: str) -> None:
        self._set_status(f"{message}. Press Record to try again.")
        self.level_bar.setValue(-60)

    def _set_status(self, text: str) -> None:
        self.status.setText(text)

    def _tab_changed(self, index: int) -> None:
        if index == 0:
            return
        try:
            self.commands()
        except KwsError as e:
            self.words_error.setText(str(e).replace("--labels", "command words"))
            self.tabs.setCurrentIndex(0)
            return
        self.words_error.setText("")
        if index == 2:
            self.marked.refresh()  # marked in the window while this dialog was open
        if index == 1:
            self._fill_words()
            self.recorder.open()
        else:
            self.recorder.cancel_take()

    # ---------------------------------------------------------------- tab 3: fine-tune
    def _train_tab(self) -> QtWidgets.QWidget:
        w = QtWidgets.QWidget()
        form = QtWidgets.QFormLayout(w)
        self.base_edit = QtWidgets.QLineEdit(default_base_data())
        self.base_edit.setToolTip("Dataset mixed with your takes so the model forgets nothing "
                                  "(standard Speech Commands layout)")
        self.name_edit = QtWidgets.QLineEdit(f"my-voice-{datetime.datetime.now():%Y%m%d-%H%M}")
        self.out_label = QtWidgets.QLabel()
        self.name_edit.textChanged.connect(lambda: self.out_label.setText(f"saved as {self.out_dir}"))
        self.epochs_spin = QtWidgets.QSpinBox()
        self.epochs_spin.setRange(1, 200)
        self.epochs_spin.setValue(8)
        self.estimate_label = QtWidgets.QLabel(estimate_text(8))
        self.estimate_label.setWordWrap(True)
        self.epochs_spin.valueChanged.connect(lambda n: self.estimate_label.setText(estimate_text(n)))
        self.start_button = QtWidgets.QPushButton("Start fine-tuning")
        self.start_button.clicked.connect(self.start_finetune)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_finetune)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setValue(0)
        self.train_status = QtWidgets.QLabel("")
        self.train_status.setWordWrap(True)
        self.report = QtWidgets.QLabel("")
        self.report.setWordWrap(True)
        self.report.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.start_button)
        row.addWidget(self.cancel_button)
        form.addRow("Base data", _browse_row(self.base_edit, self, "Dataset folder to mix in"))
        form.addRow("New model name", self.name_edit)
        form.addRow("", self.out_label)
        self.marked = MarkedTakesPanel(self.marked_folder)
        self.marked.status.connect(lambda line: self.train_status.setText(line))
        form.addRow("Marked", self.marked)
        form.addRow("Epochs", self.epochs_spin)
        form.addRow("", self.estimate_label)
        form.addRow(row)
        form.addRow(self.progress)
        form.addRow(self.train_status)
        form.addRow(self.report)
        self.out_label.setText(f"saved as {self.out_dir}")
        return w

    @property
    def out_dir(self) -> str:
        return os.path.join(R.models_home(), self.name_edit.text().strip())

    def _check_finetune(self) -> str | None:
        """A one-line problem that stops the fine-tune before it starts, or None."""
        import importlib.util

        if importlib.util.find_spec("tensorflow") is None:  # the app itself runs without it
            return f"training needs TensorFlow, which is not installed: {TRAIN_EXTRA_HINT}"
        name = self.name_edit.text().strip()
        if not _NAME.match(name):
            return "give the new model a plain name (letters, digits, - _ .)"
        if os.path.exists(self.out_dir):
            return f"{self.out_dir} exists already; choose another name"
        base = self.base_edit.text().strip()
        if not base or not os.path.isdir(base):
            return (f"base data folder {base or '(none)'} not found; choose the Speech Commands folder "
                    "(or set KWS_DATA_DIR)")
        try:
            commands = self.commands()
        except KwsError as e:
            return str(e).replace("--labels", "command words")
        # A word the current model does not know must be learnt from takes alone: at least one
        # to train on and one held out for the report. Known words may go without.
        try:
            known = command_words(self.model_dir)
        except KwsError:
            known = ()
        marked = [label for label, _ in self.marked.takes()]
        short = [w for w in commands if w not in known
                 and len(R.take_paths(self.takes_dir, w, self.speaker)) + marked.count(w) < 2]
        if short:
            return f"record at least two takes of your new word(s): {', '.join(short)}"
        if not marked and not any(R.take_paths(self.takes_dir, w, self.speaker) for w in prompt_words(commands)):
            return f"no takes of yours in {self.takes_dir} yet; record some first"
        return None

    def start_finetune(self) -> bool:
        if self.run is not None and self.run.running:
            return False
        problem = self._check_finetune()
        if problem:
            self.train_status.setText(problem)
            return False
        self.recorder.close()  # the trainer wants both cores; the microphone is not needed now
        os.makedirs(R.models_home(), exist_ok=True)
        stage = tempfile.mkdtemp(prefix="kwsapp-takes-") if self.marked.takes() else None
        user_data = marks.stage_takes((self.takes_dir, self.marked.folder), stage) if stage else self.takes_dir
        argv = finetune_command(self.model_dir, user_data, self.base_edit.text().strip(), self.out_dir,
                                self.commands(), self.epochs_spin.value(), self.extra_finetune_args)
        self.run = FinetuneRun(argv, self.out_dir, self.epochs_spin.value(), self, stage=stage)
        self.run.progress.connect(self._on_progress)
        self.run.done.connect(self._on_done)
        self.progress.setRange(0, 0)  # busy until the first epoch starts (reading audio, 'before' test)
        self.train_status.setText("Preparing: reading audio and testing the current model on your held-out takes…")
        self.report.setText("")
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.cancel_button.setFocus()  # not Close: Enter or Space must not end the dialog (and the run)
        self.run.start()
        return True

    def cancel_finetune(self) -> None:
        if self.run is not None and self.run.running:
            self.train_status.setText("Cancelling…")
            self.cancel_button.setEnabled(False)
            self.run.cancel()

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.train_status.setText(f"Training: {done} of {total} epochs done")

    def _on_done(self, report, problem: str) -> None:
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if report else 0)
        if report is None:
            self.train_status.setText("Cancelled: nothing was saved." if problem == "cancelled"
                                      else f"Fine-tuning failed: {problem}")
            return
        assert self.run is not None  # its done signal is what called this
        self.new_model = self.run.out
        self.train_status.setText(f"Done: the app now uses {self.new_model} "
                                  "(Model → Bundled model switches back).")
        self.report.setText(describe_report(report))
        self.model_trained.emit(self.new_model)

    # ---------------------------------------------------------------- closing
    def shutdown(self, wait_ms: int = CLOSE_WAIT_MS) -> None:
        """Close the microphone and cancel a running fine-tune (it removes its partial folder;
        after ``wait_ms`` it is killed and what it left is removed here)."""
        self.recorder.close()
        if self.run is not None and self.run.running:
            self.run.cancel(wait_ms=wait_ms)
            remove_partials(self.run.out)

    def reject(self) -> None:  # Close, Escape and the window's close button
        if self.run is not None and self.run.running and not self._confirm_stop():
            return
        super().reject()

    def _confirm_stop(self) -> bool:
        answer = QtWidgets.QMessageBox.question(
            self, "Stop fine-tuning?", "Fine-tuning is still running. Closing stops it and nothing is saved.",
            QtWidgets.QMessageBox.StandardButton.Close | QtWidgets.QMessageBox.StandardButton.Cancel,
            QtWidgets.QMessageBox.StandardButton.Cancel)
        return answer == QtWidgets.QMessageBox.StandardButton.Close

    def done(self, result: int) -> None:  # every way of closing a dialog ends here
        self.shutdown()
        super().done(result)
