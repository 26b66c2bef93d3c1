"""Train on my voice's list of the detections marked in the history (:mod:`.marks`): what each
is kept as, play or drop one, and whether the fine-tune trains on them too (it does unless
unticked: the user marked them for that)."""
from __future__ import annotations

import os

from PyQt6 import QtCore, QtWidgets

from ...core.errors import KwsError
from ..actions import marks
from ..live.scores import display_name
from . import recorder as R

_PATH = QtCore.Qt.ItemDataRole.UserRole


class MarkedTakesPanel(QtWidgets.QWidget):
    status = QtCore.pyqtSignal(str)  # one line for the dialog's status (a take that cannot play)

    def __init__(self, folder: str | None = None, parent=None):
        super().__init__(parent)
        self.folder = folder or marks.marked_dir()
        self.include = QtWidgets.QCheckBox()
        self.include.setChecked(True)
        self.list = QtWidgets.QListWidget()
        self.list.setMaximumHeight(110)
        self.list.setToolTip("Mark a detection right or wrong in the main window's history (its clip must be "
                             "saved: Settings → Actions) to add it here")
        play, drop = QtWidgets.QPushButton("Play"), QtWidgets.QPushButton("Drop")
        play.clicked.connect(self._play)
        drop.clicked.connect(self._drop)
        buttons = QtWidgets.QVBoxLayout()
        buttons.addWidget(play)
        buttons.addWidget(drop)
        buttons.addStretch(1)
        row = QtWidgets.QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.list, 1)
        row.addLayout(buttons)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.include)
        lay.addLayout(row)
        self.refresh()

    def takes(self) -> list[tuple[str, str]]:
        """(label, path) of the marked takes the fine-tune will use: none if unticked."""
        return marks.marked_takes(self.folder) if self.include.isChecked() else []

    def refresh(self) -> None:
        found = marks.marked_takes(self.folder)
        self.list.clear()
        for label, path in found:
            item = QtWidgets.QListWidgetItem(f"as “{display_name(label)}”: {os.path.basename(path)}")
            item.setToolTip(path)
            item.setData(_PATH, path)
            self.list.addItem(item)
        n = len(found)
        self.include.setEnabled(bool(n))
        self.include.setText(f"Also train on the {n} detection{'s' if n != 1 else ''} you marked in the history"
                             if n else "No detections marked in the history yet (right-click one with a saved clip)")

    def _selected(self) -> str | None:
        item = self.list.currentItem()
        return item.data(_PATH) if item else None

    def _play(self) -> None:
        if p := self._selected():
            try:
                R.play(p)
            except KwsError as e:
                self.status.emit(str(e))

    def _drop(self) -> None:
        if p := self._selected():
            marks.forget(p)
            self.refresh()
