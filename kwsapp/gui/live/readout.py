"""The big detected-command readout, which fades out, and the quiet 'what it hears' line."""
from __future__ import annotations

from PyQt6 import QtCore, QtGui, QtWidgets

from .scores import display_name, score_text

HOLD_MS = 1000  # fully visible for a second ...
FADE_MS = 700   # ... then fades out, so a stale word is never mistaken for a new one


class DetectionReadout(QtWidgets.QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.word = QtWidgets.QLabel("")
        self.word.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        font = QtGui.QFont()
        font.setPointSize(44)
        font.setBold(True)
        self.word.setFont(font)
        self.word.setMinimumHeight(80)
        self.confidence = QtWidgets.QLabel("")
        self.confidence.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        cf = QtGui.QFont()
        cf.setPointSize(15)
        self.confidence.setFont(cf)
        self.quiet = QtWidgets.QLabel("")
        self.quiet.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.quiet.setStyleSheet("color: gray;")

        self._effect = QtWidgets.QGraphicsOpacityEffect(self)
        self._effect.setOpacity(0.0)
        box = QtWidgets.QWidget()
        box_lay = QtWidgets.QVBoxLayout(box)
        box_lay.setContentsMargins(0, 0, 0, 0)
        box_lay.addWidget(self.word)
        box_lay.addWidget(self.confidence)
        box.setGraphicsEffect(self._effect)

        lay = QtWidgets.QVBoxLayout(self)
        lay.addStretch(1)
        lay.addWidget(box)
        lay.addWidget(self.quiet)
        lay.addStretch(1)

        self._fade = QtCore.QPropertyAnimation(self._effect, b"opacity", self)
        self._fade.setDuration(FADE_MS)
        self._fade.setStartValue(1.0)
        self._fade.setEndValue(0.0)
        self._hold = QtCore.QTimer(self)
        self._hold.setSingleShot(True)
        self._hold.timeout.connect(self._fade.start)
        self.shown: list[tuple[str, float]] = []  # every detection displayed (tests, accessibility)

    @property
    def opacity(self) -> float:
        return self._effect.opacity()

    def show_detection(self, label: str, score: float) -> None:
        self._fade.stop()
        self.word.setText(display_name(label).upper())
        self.confidence.setText(f"score {score_text(score)}")
        self._effect.setOpacity(1.0)
        self._hold.start(HOLD_MS)
        self.shown.append((label, float(score)))

    def raise_score(self, score: float) -> None:
        """The shown detection's score rose (its peak so far): held fully visible again."""
        if not self.shown:
            return
        self._fade.stop()
        self.confidence.setText(f"score {score_text(score)}")
        self._effect.setOpacity(1.0)
        self._hold.start(HOLD_MS)
        self.shown[-1] = (self.shown[-1][0], float(score))

    def show_quiet(self, label: str | None, score: float = 0.0) -> None:
        """The current best non-command guess, in small grey text (not a detection)."""
        self.quiet.setText("" if label is None else f"hearing: {display_name(label)} ({score_text(score)})")

    def set_idle(self, text: str) -> None:
        self.quiet.setText(text)
