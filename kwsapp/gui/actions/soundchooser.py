"""A word's sound in Settings → Actions: no sound, the built-in chime, or a WAV file chosen here.

A combo box: the chosen file is an entry of its own (named, its path in the tooltip), and the
last entry opens a file dialog. A file stays remembered while another choice is made, so
switching to the chime and back does not mean looking for it again. ``changed`` fires whenever
the choice may have changed (the Actions tab's play button follows it).
"""
from __future__ import annotations

import os

from PyQt6 import QtCore, QtWidgets

from .alerts import SOUND_CHIME, SOUND_FILE, SOUND_OFF

_CHOOSE = "choose"


class SoundChooser(QtWidgets.QComboBox):
    changed = QtCore.pyqtSignal()

    def __init__(self, word: str, parent=None):
        super().__init__(parent)
        self.word = word
        self._file = ""
        self._kind = SOUND_OFF
        self.setToolTip(f"A sound to play when “{word}” is heard")
        # A long file name must not widen the whole Actions grid past a small screen.
        self.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(10)
        self.activated.connect(self._activated)
        self._fill()

    def _fill(self) -> None:
        self.blockSignals(True)
        self.clear()
        self.addItem("no sound", SOUND_OFF)
        self.addItem("chime", SOUND_CHIME)
        if self._file:
            self.addItem(f"file: {os.path.basename(self._file)}", SOUND_FILE)
            self.setItemData(self.count() - 1, self._file, 3)  # ToolTipRole: the whole path
        self.addItem("choose a WAV file…", _CHOOSE)
        self.setCurrentIndex(max(0, self.findData(self._kind)))
        self.blockSignals(False)
        self.changed.emit()

    def set_sound(self, kind: str, path: str = "") -> None:
        """``kind`` off/chime/file; ``path`` the file (kept whatever the kind)."""
        self._file = path
        self._kind = kind if kind != SOUND_FILE or path else SOUND_OFF
        self._fill()

    def sound(self) -> tuple[str, str]:
        """(kind, file)."""
        return self._kind, self._file

    def _activated(self, index: int) -> None:
        kind = self.itemData(index)
        if kind != _CHOOSE:
            self._kind = kind
            self.changed.emit()
            return
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, f"A sound for “{self.word}”", os.path.dirname(self._file) or os.path.expanduser("~"),
            "WAV files (*.wav *.WAV);;All files (*)")
        if path:
            self.set_sound(SOUND_FILE, path)
        else:  # cancelled: back to what was chosen
            self._fill()
