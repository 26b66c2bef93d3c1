"""The table of detections: time, stream time, command, score, source, model, mark; clear and
save CSV; play a detection's saved clip and mark it right or wrong (kept for Train on my voice
by the window, see :mod:`.marks`).

Newest on top. The view follows the newest row while it is scrolled to the top; scrolled
away, the rows the user is reading stay where they are. A marker row goes in where the input
or the model changed (stream time starts again at 0 there); markers live only in the table,
never in the CSV.
"""
from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import os
import tempfile
from dataclasses import dataclass

from PyQt6 import QtCore, QtGui, QtWidgets

from ...core.errors import KwsError
from ...core.vocabulary import SILENCE, UNKNOWN
from ..actions.marks import RIGHT, WRONG
from .scores import display_name, score_text

CSV_HEADER = ("wall_time", "stream_time_s", "command", "score", "source", "model", "clip", "mark", "marked_as")
COLUMNS = ("time", "stream time (s)", "command", "score", "source", "model", "mark")
COMMAND_COLUMN = 2
SCORE_COLUMN = 3
MARK_COLUMN = 6
MAX_ROWS = 2000  # a long session must not grow the table (and memory) without bound
_MARKER = QtCore.Qt.ItemDataRole.UserRole + 1  # set on a marker row's item
_NUMBER = QtCore.Qt.ItemDataRole.UserRole + 2  # a detection row's HistoryRow.n, on its first item


@dataclass(frozen=True)
class HistoryRow:
    wall_time: str  # ISO 8601, local time, millisecond precision
    stream_time_s: float
    command: str
    score: float
    source: str = ""  # the input it was heard on (a file name or a device)
    model: str = ""  # the model folder's name
    session: int = 0  # one per start of an input: stream time restarts with it
    clip: str = ""  # the saved audio of this detection, once written (Settings → Actions)
    n: int = 0  # this row's number in the table's life: how a clip written later finds it
    mark: str = ""  # "", right or wrong
    marked_as: str = ""  # the label its kept take trains: the word, _unknown_, or the word it really was
    take: str = ""  # the kept copy of the clip (marks.keep), removed when the mark is cleared


def mark_text(row: HistoryRow) -> str:
    if row.mark == RIGHT:
        return "✓ right"
    if row.mark == WRONG:
        return f"✗ wrong → {display_name(row.marked_as)}"
    return ""


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
                w.writerow((r.wall_time, f"{r.stream_time_s:.2f}", r.command, f"{r.score:.3f}", r.source, r.model,
                            r.clip, r.mark, r.marked_as))
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
    saved = QtCore.pyqtSignal(str, int)  # path, detections written
    play = QtCore.pyqtSignal(str)  # a saved clip's path: its ▶ was pressed
    save_failed = QtCore.pyqtSignal(str)  # the one-line reason
    mark = QtCore.pyqtSignal(int, str, str)  # (HistoryRow.n, "" / right / wrong, the label to keep it as)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[HistoryRow] = []
        self._count = 0  # rows ever added (numbers them)
        self.folder = ""  # where "Save CSV…" opens; the window keeps it between runs
        self.words: list[str] = []  # the model's words: what a wrong detection may be relabelled to
        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 6)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.clear_button = QtWidgets.QPushButton("Clear")
        self.save_button = QtWidgets.QPushButton("Save CSV…")
        # Plays the selected detection's clip (when clips are saved, Settings → Actions). A button
        # bar entry, not a column: the table's columns are what a user reads and copies.
        self.play_button = QtWidgets.QPushButton("▶ Play clip")
        self.play_button.setToolTip("Play the saved audio of the selected detection")
        self.play_button.setEnabled(False)
        self.play_button.clicked.connect(self._play_selected)
        # Marking needs the clip: what is kept for training is its audio.
        self.right_button = QtWidgets.QPushButton("✓ Right")
        self.right_button.setToolTip("The selected detection was right: keep its clip as a take of its word "
                                     "for Train on my voice")
        self.wrong_button = QtWidgets.QPushButton("✗ Wrong")
        self.wrong_button.setToolTip("The selected detection was wrong: keep its clip as a take of “unknown” "
                                     "for Train on my voice (right-click the row to say which word it was)")
        for b, how in ((self.right_button, self.mark_right), (self.wrong_button, self.mark_wrong)):
            b.setEnabled(False)
            b.clicked.connect(lambda _=False, how=how: self._selected_n() and how(self._selected_n()))
        self.table.setContextMenuPolicy(QtCore.Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.cellDoubleClicked.connect(self._double_clicked)
        self.clear_button.clicked.connect(self.clear)
        self.save_button.clicked.connect(self._ask_save)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(QtWidgets.QLabel("Detections"))
        buttons.addStretch(1)
        buttons.addWidget(self.play_button)
        buttons.addWidget(self.right_button)
        buttons.addWidget(self.wrong_button)
        buttons.addWidget(self.clear_button)
        buttons.addWidget(self.save_button)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(buttons)
        lay.addWidget(self.table)

    @property
    def following(self) -> bool:
        """Whether the view shows the newest row (scrolled to the top)."""
        bar = self.table.verticalScrollBar()
        return bar.value() <= bar.minimum()

    def add(self, stream_time_s: float, command: str, score: float, source: str = "", model: str = "",
            session: int = 0, wall: dt.datetime | None = None):
        wall = wall or dt.datetime.now()
        self._count += 1
        row = HistoryRow(wall.isoformat(timespec="milliseconds"), float(stream_time_s), command, float(score),
                         source, model, session, n=self._count)
        follow = self.following
        keep = None if follow else self.table.item(self.table.rowAt(0), 0)
        if self.rows and (source, model, session) != (self.rows[-1].source, self.rows[-1].model,
                                                      self.rows[-1].session):
            self._insert_marker(self.rows[-1], row)
        self.rows.append(row)
        self.table.insertRow(0)
        cells = (wall.strftime("%H:%M:%S.%f")[:-3], f"{row.stream_time_s:.2f}", command, score_text(row.score),
                 source, model, "")
        for c, text in enumerate(cells):
            item = QtWidgets.QTableWidgetItem(text)
            if c in (1, SCORE_COLUMN):
                item.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(0, c, item)
        self.table.item(0, 0).setData(_NUMBER, row.n)
        if len(self.rows) > MAX_ROWS:
            del self.rows[0]
            self.table.removeRow(self.table.rowCount() - 1)
            while self.table.rowCount() and self._is_marker(self.table.rowCount() - 1):
                self.table.removeRow(self.table.rowCount() - 1)
        if follow:
            self.table.scrollToTop()
        elif keep is not None:  # the rows being read stay put; the new one waits above
            self.table.scrollToItem(keep, QtWidgets.QAbstractItemView.ScrollHint.PositionAtTop)
        return row

    def set_clip(self, n: int, path: str) -> None:
        """Row number ``n`` (:attr:`HistoryRow.n`) has its clip saved: its command shows a ▶ icon,
        and *▶ Play clip* (or a double-click) plays it.
        The clip is written on a worker after the row went in, and rows may have come or gone since."""
        i, t = self._find(n)
        if i is None or t is None:  # cleared or dropped meanwhile
            return
        self.rows[i] = dataclasses.replace(self.rows[i], clip=path)
        item, style = self.table.item(t, COMMAND_COLUMN), self.style()
        if item is None or style is None:
            return
        item.setIcon(style.standardIcon(QtWidgets.QStyle.StandardPixmap.SP_MediaPlay))
        item.setToolTip(f"{path}\ndouble-click or ▶ Play clip to hear it")
        self._selection_changed()

    def _find(self, n: int) -> tuple[int | None, int | None]:
        """Row number ``n``'s index in :attr:`rows` and in the table (None where it is gone)."""
        i = next((k for k in range(len(self.rows) - 1, -1, -1) if self.rows[k].n == n), None)
        t = next((r for r in range(self.table.rowCount())
                  if (it := self.table.item(r, 0)) is not None and it.data(_NUMBER) == n), None)
        return i, t

    def row(self, n: int) -> HistoryRow | None:
        i, _ = self._find(n)
        return None if i is None else self.rows[i]

    def set_mark(self, n: int, mark: str, marked_as: str = "", take: str = "") -> None:
        """Row number ``n`` is marked ("" clears it), its clip kept as ``take``."""
        i, t = self._find(n)
        if i is None:
            return
        self.rows[i] = row = dataclasses.replace(self.rows[i], mark=mark, marked_as=marked_as if mark else "",
                                                 take=take if mark else "")
        if t is not None:
            item = self.table.item(t, MARK_COLUMN)
            item.setText(mark_text(row))
            item.setToolTip(f"kept for Train on my voice as {take}" if take else "")

    def mark_right(self, n: int) -> None:
        if (row := self.row(n)) is not None:
            self.mark.emit(n, RIGHT, row.command)

    def mark_wrong(self, n: int, really: str = UNKNOWN) -> None:
        self.mark.emit(n, WRONG, really)

    def _n_at(self, table_row: int) -> int:
        item = self.table.item(table_row, 0)
        return (item.data(_NUMBER) or 0) if item is not None else 0

    def clip_at(self, table_row: int) -> str:
        """The saved clip of the detection in that table row ("" if none, or a marker row)."""
        n = self._n_at(table_row)
        return next((r.clip for r in reversed(self.rows) if r.n == n), "") if n else ""

    def _selected_n(self) -> int:
        rows = self.table.selectionModel().selectedRows()
        return self._n_at(rows[0].row()) if rows else 0

    def _selected_clip(self) -> str:
        rows = self.table.selectionModel().selectedRows()
        return self.clip_at(rows[0].row()) if rows else ""

    def _selection_changed(self) -> None:
        has_clip = bool(self._selected_clip())
        for b in (self.play_button, self.right_button, self.wrong_button):
            b.setEnabled(has_clip)

    def mark_menu(self, table_row: int) -> QtWidgets.QMenu | None:
        """The row's menu: play, right, wrong as unknown / silence / another word, clear."""
        n, clip = self._n_at(table_row), self.clip_at(table_row)
        if not clip:
            return None
        row = self.row(n)
        if row is None:
            return None
        menu = QtWidgets.QMenu(self)
        menu.addAction("▶ Play clip", lambda: self.play.emit(clip))
        menu.addSeparator()
        menu.addAction(f"✓ Mark right: it was “{row.command}”", lambda: self.mark_right(n))
        wrong = menu.addMenu("✗ Mark wrong: it was…")
        assert wrong is not None
        wrong.addAction("not a command word (unknown)", lambda: self.mark_wrong(n, UNKNOWN))
        wrong.addAction("no word at all (silence or noise)", lambda: self.mark_wrong(n, SILENCE))
        others = [w for w in self.words if w != row.command]
        if others:
            wrong.addSeparator()
        for w in others:
            wrong.addAction(f"“{w}”", lambda w=w: self.mark_wrong(n, w))
        if row.mark:
            menu.addAction("Clear the mark", lambda: self.mark.emit(n, "", ""))
        return menu

    def _context_menu(self, pos) -> None:
        menu = self.mark_menu(self.table.rowAt(pos.y()))
        if menu is not None:
            menu.exec(self.table.viewport().mapToGlobal(pos))

    def _play_selected(self) -> None:
        if clip := self._selected_clip():
            self.play.emit(clip)

    def _double_clicked(self, table_row: int, _column: int) -> None:
        if clip := self.clip_at(table_row):
            self.play.emit(clip)

    def _insert_marker(self, before: HistoryRow, after: HistoryRow) -> None:
        # Newest on top: the marker sits under the first row of the new input, naming it.
        what = [f"input {after.source}" if after.source != before.source else "",
                f"model {after.model}" if after.model != before.model else ""]
        text = " · ".join(w for w in what if w) or f"{after.source} started again"
        self.table.insertRow(0)
        item = QtWidgets.QTableWidgetItem(f"▲ from here: {text} (stream time from 0)")
        item.setData(_MARKER, True)
        font = item.font()
        font.setItalic(True)
        item.setFont(font)
        item.setBackground(QtGui.QColor(235, 235, 245))
        self.table.setItem(0, 0, item)
        self.table.setSpan(0, 0, 1, len(COLUMNS))

    def _is_marker(self, table_row: int) -> bool:
        item = self.table.item(table_row, 0)
        return bool(item is not None and item.data(_MARKER))

    def markers(self) -> list[str]:
        return [self.table.item(r, 0).text() for r in range(self.table.rowCount()) if self._is_marker(r)]

    def raise_score(self, score: float) -> None:
        """The newest detection's score rose (the peak tracker): its row shows the peak."""
        if not self.rows:
            return
        self.rows[-1] = dataclasses.replace(self.rows[-1], score=float(score))
        self.table.item(0, SCORE_COLUMN).setText(score_text(score))

    def clear(self) -> None:
        for b in (self.play_button, self.right_button, self.wrong_button):
            b.setEnabled(False)
        self.rows.clear()
        self.table.clearSpans()
        self.table.setRowCount(0)

    def commands(self) -> list[str]:
        return [r.command for r in self.rows]

    def save(self, path: str) -> None:
        write_csv(path, self.rows)

    def _ask_save(self) -> None:
        start = os.path.join(self.folder or os.path.expanduser("~"), "detections.csv")
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save detections", start, "CSV files (*.csv)")
        if not path:
            return
        try:
            self.save(path)
        except KwsError as e:
            self.save_failed.emit(str(e))
            QtWidgets.QMessageBox.warning(self, "Save failed", str(e))
            return
        self.folder = os.path.dirname(path)
        self.saved.emit(path, len(self.rows))
