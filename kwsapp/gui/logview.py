"""Help → Log: the app's recent log records (kwsapp.logbook), to read or copy into a bug report."""
from __future__ import annotations

from PyQt6 import QtWidgets

from .. import logbook


class LogDialog(QtWidgets.QDialog):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("kwsapp log")
        self.text = QtWidgets.QPlainTextEdit()
        self.text.setReadOnly(True)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        self.copy_button = buttons.addButton("Copy", QtWidgets.QDialogButtonBox.ButtonRole.ActionRole)
        self.refresh_button = buttons.addButton("Refresh", QtWidgets.QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(lambda: QtWidgets.QApplication.clipboard().setText(self.text.toPlainText()))
        self.refresh_button.clicked.connect(self.refresh)
        buttons.rejected.connect(self.reject)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self.text, 1)
        lay.addWidget(buttons)
        self.resize(720, 420)
        self.refresh()

    def refresh(self) -> None:
        self.text.setPlainText("\n".join(logbook.recent()) or "(nothing logged yet)")
        self.text.verticalScrollBar().setValue(self.text.verticalScrollBar().maximum())
