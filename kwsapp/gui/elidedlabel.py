"""A one-line label that ends in "…" when the window is too narrow, instead of being cut off
mid-word; the whole text is in its tooltip."""
from __future__ import annotations

from PyQt6 import QtCore, QtWidgets


class ElidedLabel(QtWidgets.QLabel):
    def __init__(self, text: str = "", parent=None):
        super().__init__(parent)
        self._full = ""
        self.setMinimumWidth(80)  # it gives way to the fixed figures beside it
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:  # type: ignore[override]  # noqa: N802 (Qt naming; always given a str)
        self._full = text
        self._elide()

    def text(self) -> str:
        return self._full

    def shown(self) -> str:
        """What is on screen (the text, or its start and "…")."""
        return super().text()

    def resizeEvent(self, ev):  # noqa: N802
        super().resizeEvent(ev)
        self._elide()

    def _elide(self) -> None:
        super().setText(self.fontMetrics().elidedText(self._full, QtCore.Qt.TextElideMode.ElideMiddle, self.width()))
