"""Settings → Actions: per word a command (on/off), a sound (with a button that plays it), a
notification and a sensitivity slider; the clips folder and close-to-tray.

The commands are what ``kwsapp listen --actions`` takes, typed as one line and split the way
kwsapp/actions.py splits ``--exec`` (quotes honoured, no shell unless written). The sliders
edit the smoothing's per-word thresholds, so they are applied with the other detection
settings (the dialog's Apply / OK) and follow its Restore Defaults.
"""
from __future__ import annotations

import dataclasses

from PyQt6 import QtCore, QtWidgets

from ...actions import parse_command
from ...core.errors import KwsError
from ..settings.sensitivity import SensitivitySlider
from .alerts import SOUND_OFF, SOUNDS, sound_for
from .soundchooser import SoundChooser

NO_TRAY = "This desktop has no system tray"


@dataclasses.dataclass(frozen=True)
class WordAction:
    command: str = ""  # one line, split like --exec; "" = nothing to run
    on: bool = True  # whether the command runs (the sound and the notification have their own)
    sound: str = SOUND_OFF  # off, chime or file
    sound_file: str = ""  # the WAV for "file"; kept while another sound is chosen
    notify: bool = False  # a desktop notification through the tray icon

    @classmethod
    def from_dict(cls, d: dict) -> "WordAction":
        """From the settings' JSON; anything unknown falls back to its default."""
        sound = str(d.get("sound", SOUND_OFF))
        return cls(str(d.get("command", "")), bool(d.get("on", True)), sound if sound in SOUNDS else SOUND_OFF,
                   str(d.get("sound_file", "")), bool(d.get("notify", False)))


class ActionsTab(QtWidgets.QWidget):
    # (file, what it is): a word's sound to play now, from its play button; the window plays it
    # as it would on a detection, so what is heard here is what a detection will sound like.
    preview = QtCore.pyqtSignal(str, str)

    def __init__(self, words, smoothing, tuned, actions: dict, close_to_tray: bool,
                 tray_available: bool, clips_folder: str = "", parent=None):
        """``smoothing``: the settings in use; ``tuned``: the model's (the marks and the defaults)."""
        super().__init__(parent)
        self.words = list(words)
        self._tuned = tuned
        self.checks, self.commands, self.sliders, self.values = {}, {}, {}, {}
        self.sounds, self.notifies, self.plays = {}, {}, {}
        grid = QtWidgets.QGridLayout()
        for c, title in enumerate(("word", "run", "command (no shell unless you write one: sh -c '…')",
                                   "sound", "notify", "sensitivity")):
            grid.addWidget(QtWidgets.QLabel(f"<b>{title}</b>"), 0, c)
        for r, word in enumerate(self.words, 1):
            check = self.checks[word] = QtWidgets.QCheckBox()
            check.setToolTip(f"Run the command when “{word}” is heard")
            edit = self.commands[word] = QtWidgets.QLineEdit()
            edit.setPlaceholderText(f'e.g. notify-send "heard {word}"')
            edit.setToolTip("The detection reaches the command as KWSAPP_LABEL, KWSAPP_SCORE, KWSAPP_TIME "
                            "and KWSAPP_WALL_TIME in its environment.")
            slider = self.sliders[word] = SensitivitySlider(tuned.threshold_for(word))
            sound = self.sounds[word] = SoundChooser(word)
            play = self.plays[word] = QtWidgets.QToolButton()
            play.setText("▶")
            play.setToolTip(f"Play the sound chosen for “{word}”")
            play.clicked.connect(lambda _=False, w=word: self._play(w))
            sound.changed.connect(lambda s=sound, b=play: b.setEnabled(s.sound()[0] != SOUND_OFF))
            play.setEnabled(sound.sound()[0] != SOUND_OFF)
            sound_cell = QtWidgets.QHBoxLayout()
            sound_cell.addWidget(sound, 1)
            sound_cell.addWidget(play)
            notify = self.notifies[word] = QtWidgets.QCheckBox()
            notify.setToolTip(f"A desktop notification when “{word}” is heard")
            if not tray_available:  # notifications go through the tray icon: say why there are none
                notify.setEnabled(False)
                notify.setToolTip(f"{NO_TRAY}, so there is nowhere to show a notification")
            value = self.values[word] = QtWidgets.QLabel()
            value.setMinimumWidth(44)
            slider.valueChanged.connect(lambda v, lab=value: lab.setText(f"{v} %"))
            grid.addWidget(QtWidgets.QLabel(word), r, 0)
            grid.addWidget(check, r, 1)
            grid.addWidget(edit, r, 2)
            grid.addLayout(sound_cell, r, 3)
            grid.addWidget(notify, r, 4)
            grid.addWidget(slider, r, 5)
            grid.addWidget(value, r, 6)
        grid.setColumnStretch(2, 3)
        grid.setColumnStretch(5, 2)
        self.tray_check = QtWidgets.QCheckBox("Closing the window keeps listening in the system tray")
        self.tray_check.setChecked(close_to_tray)
        if not tray_available:  # nowhere to go: say why it cannot be chosen
            self.tray_check.setEnabled(False)
            self.tray_check.setToolTip(NO_TRAY)
        self.clips_edit = QtWidgets.QLineEdit(clips_folder)
        self.clips_edit.setPlaceholderText("not saved")
        self.clips_edit.setToolTip("Each detection's audio (1.5 s) is saved here as <time>_<word>_<score>.wav, "
                                   "playable from the history; commands get its path as KWSAPP_CLIP")
        browse = QtWidgets.QPushButton("Choose…")
        browse.clicked.connect(self._choose_clips_folder)
        clips = QtWidgets.QHBoxLayout()
        clips.addWidget(QtWidgets.QLabel("Save the audio of each detection in:"))
        clips.addWidget(self.clips_edit, 1)
        clips.addWidget(browse)
        self.error = QtWidgets.QLabel("")
        self.error.setStyleSheet("color: #c03030;")
        self.error.setWordWrap(True)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(grid)
        lay.addLayout(clips)
        lay.addWidget(self.tray_check)
        lay.addWidget(self.error)
        lay.addStretch(1)
        self.load(smoothing, actions)

    def load(self, smoothing, actions: dict) -> None:
        for word in self.words:
            a = actions.get(word, WordAction())
            self.checks[word].setChecked(a.on)
            self.commands[word].setText(a.command)
            self.sounds[word].set_sound(a.sound, a.sound_file)
            self.notifies[word].setChecked(a.notify)
            self.sliders[word].set_threshold(smoothing.threshold_for(word))
            self.values[word].setText(f"{self.sliders[word].value()} %")

    def restore_defaults(self) -> None:
        self.load(self._tuned, {})
        self.tray_check.setChecked(False)
        self.clips_edit.clear()

    def _play(self, word: str) -> None:
        from .sounds import wav_problem

        kind, file = self.sounds[word].sound()
        try:
            path = sound_for(WordAction(sound=kind, sound_file=file))
        except OSError as e:  # the chime's cache folder is not writable
            self.error.setText(f"the chime cannot be written: {e.strerror or e}")
            return
        why = wav_problem(path) if path else None
        if why:  # said here, where the file is chosen (the window's status bar is behind the dialog)
            self.error.setText(f"{word}: {why}")
        elif path:
            self.preview.emit(path, f"the sound for '{word}'")

    def _choose_clips_folder(self) -> None:
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Save detection clips in", self.clips_edit.text())
        if d:
            self.clips_edit.setText(d)

    def actions(self) -> dict[str, WordAction]:  # type: ignore[override]  # hides QWidget.actions() on this tab
        """The commands as typed; raises KwsError naming the first one that does not parse."""
        out = {}
        for word in self.words:
            text = self.commands[word].text().strip()
            if text:
                parse_command(text, f"the command for {word!r}")
            kind, path = self.sounds[word].sound()
            out[word] = WordAction(text, self.checks[word].isChecked(), kind, path,
                                   self.notifies[word].isChecked())
        return out

    def with_thresholds(self, smoothing):
        """``smoothing`` with this tab's per-word thresholds. A word whose slider sits on the
        common threshold gets no entry of its own, so the toolbar's threshold still moves it."""
        pairs = {w: t for w, t in smoothing.word_thresholds if w not in self.sliders}
        for word, slider in self.sliders.items():
            if abs(slider.threshold - smoothing.detection_threshold) > 1e-6:
                pairs[word] = slider.threshold
        return dataclasses.replace(smoothing, word_thresholds=pairs)

    def check(self) -> dict | None:
        """The actions, or None after showing why they cannot be used."""
        try:
            actions = self.actions()
        except KwsError as e:
            self.error.setText(str(e))
            return None
        self.error.setText("")  # a program not found is kept; the window says so in its status bar
        return actions
