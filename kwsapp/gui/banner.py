"""The banner across the top of the window: a problem in plain words, with the ways out."""
from __future__ import annotations

from PyQt6 import QtCore, QtWidgets


class ProblemBanner(QtWidgets.QFrame):
    """A plain-words message across the top with the ways out: devices, a WAV file, a model."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setStyleSheet("ProblemBanner { background: #fff3cd; border: 1px solid #e0b040; }"
                           " QLabel { color: #503c00; }")
        self.text = QtWidgets.QLabel("")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.devices_button = QtWidgets.QPushButton("Choose device…")
        self.wav_button = QtWidgets.QPushButton("Open WAV file…")
        self.model_button = QtWidgets.QPushButton("Choose model folder…")
        lay = QtWidgets.QHBoxLayout(self)
        lay.addWidget(self.text, 1)
        for b in (self.devices_button, self.wav_button, self.model_button):
            lay.addWidget(b)
        self.hide()

    def show_problem(self, message: str, model: bool = False) -> None:
        self.text.setText(message)
        self.model_button.setVisible(model)
        self.devices_button.setVisible(not model)
        self.wav_button.setVisible(not model)
        self.show()
