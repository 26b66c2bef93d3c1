"""The table of detections: wall-clock time, stream time, command, score; clear and save CSV."""
from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import os
import tempfile
from dataclasses import dataclass

from PyQt6 import QtCore, QtWidgets

from ..errors import KwsError
from .scores import score_text

CSV_HEADER = ("wall_time", "stream_time_s", "command", "score")
MAX_ROWS = 2000  # a long session must not grow the table (and memory) without bound


@dataclass(frozen=True)
class HistoryRow:
    wall_time: str  # ISO 8601, local time, millisecond precision
    stream_time_s: float
    command: str
    score: float


def write_csv(path: str, rows) -> None:
    """Atomic: a failed save never leaves half a file where the user asked for one."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".csv.part")
    except OSError as e:
        raise KwsError(f"cannot save {path}: {e.strerror}; choose another folder") from None
    try:
        with os.fdopen(fd, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(CSV_HEADER)
            for r in rows:
                w.writerow((r.wall_time, f"{r.stream_time_s:.2f}", r.command, f"{r.score:.3f}"))
        os.replace(tmp, path)
    except BaseException as e:  # whatever went wrong, the old file stays and no .part is left
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise KwsError(f"cannot save {path}: {e.strerror or e}; choose another folder") from None
        raise


class HistoryTable(QtWidgets.QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[HistoryRow] = []
        self.table = QtWidgets.QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["time", "stream time (s)", "command", "score"])
        self.table.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.clear_button = QtWidgets.QPushButton("Clear")
        self.save_button = QtWidgets.QPushButton("Save CSV…")
        self.clear_button.clicked.connect(self.clear)
        self.save_button.clicked.connect(self._ask_save)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(QtWidgets.QLabel("Detections"))
        buttons.addStretch(1)
        buttons.addWidget(self.clear_button)
        buttons.addWidget(self.save_button)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(buttons)
        lay.addWidget(self.table)

    def add(self, stream_time_s: float, command: str, score: float, wall: dt.datetime | None = None):
        wall = wall or dt.datetime.now()
        row = HistoryRow(wall.isoformat(timespec="milliseconds"), float(stream_time_s), command, float(score))
        self.rows.append(row)
        # Newest on top: that is where the eye goes after a detection.
        self.table.insertRow(0)
        cells = (wall.strftime("%H:%M:%S.%f")[:-3], f"{row.stream_time_s:.2f}", command, score_text(row.score))
        for c, text in enumerate(cells):
            item = QtWidgets.QTableWidgetItem(text)
            if c != 2:
                item.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(0, c, item)
        if len(self.rows) > MAX_ROWS:
            del self.rows[0]
            self.table.removeRow(self.table.rowCount() - 1)

    def raise_score(self, score: float) -> None:
        """The newest detection's score rose (the peak tracker): its row shows the peak."""
        if not self.rows:
            return
        self.rows[-1] = dataclasses.replace(self.rows[-1], score=float(score))
        self.table.item(0, 3).setText(score_text(score))

    def clear(self) -> None:
        self.rows.clear()
        self.table.setRowCount(0)

    def commands(self) -> list[str]:
        return [r.command for r in self.rows]

    def save(self, path: str) -> None:
        write_csv(path, self.rows)

    def _ask_save(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save detections", "detections.csv",
                                                        "CSV files (*.csv)")
        if not path:
            return
        try:
            self.save(path)
        except KwsError as e:
            QtWidgets.QMessageBox.warning(self, "Save failed", str(e))

