"""Bar chart of the live label scores with the detection threshold drawn across it."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtGui

QUIET_LABELS = ("_silence_", "_unknown_")
_COMMAND_BRUSH = pg.mkBrush(70, 140, 230)
_HOT_BRUSH = pg.mkBrush(250, 170, 40)
_QUIET_BRUSH = pg.mkBrush(150, 150, 150)


def display_name(label: str) -> str:
    return label.strip("_")


def score_text(score: float) -> str:
    """A score as every view shows it: the bar's own 0..1 scale, two decimals."""
    return f"{score:.2f}"


class ScoresView(pg.PlotWidget):
    """One bar per label (smoothed score, 0..1); bars over the threshold turn orange."""

    def __init__(self, labels, threshold: float, parent=None):
        super().__init__(parent)
        self.labels = tuple(labels)
        n = len(self.labels)
        self._quiet = np.array([l in QUIET_LABELS for l in self.labels])
        self.heights = np.zeros(n, np.float32)
        self.bars = pg.BarGraphItem(x=np.arange(n), height=self.heights, width=0.7,
                                    brushes=self._brushes(self.heights, threshold))
        self.addItem(self.bars)
        self.threshold_line = pg.InfiniteLine(
            pos=threshold, angle=0, movable=False,
            pen=pg.mkPen(220, 60, 60, width=2, style=QtCore.Qt.PenStyle.DashLine),
            label="threshold", labelOpts={"position": 0.08, "color": (220, 60, 60), "anchors": [(0, 1), (0, 1)]})
        self.addItem(self.threshold_line)
        self.threshold = threshold
        axis = self.getAxis("bottom")
        font = QtGui.QFont()  # the application font, smaller: twelve names must fit
        font.setPointSize(8)
        axis.setStyle(tickFont=font)
        fm = QtGui.QFontMetrics(font)
        self._name_px = [fm.horizontalAdvance(display_name(l)) for l in self.labels]
        self._line_px = fm.height()
        self.staggered = None
        self._fit_labels()
        self.getViewBox().sigResized.connect(self._fit_labels)
        self.setLabel("left", "score")
        self.setYRange(0, 1.02, padding=0)
        self.setXRange(-0.6, n - 0.4, padding=0)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.setMenuEnabled(False)

    def _fit_labels(self, *_) -> None:
        """Names side by side while they fit under their bars; in a narrow window every other
        name drops to a second line, so neighbours never run together ("silenceunknown")."""
        per_bar = self.getViewBox().width() / max(1, len(self.labels))
        stagger = max(self._name_px) + 6 > per_bar
        if stagger == self.staggered:
            return
        self.staggered = stagger
        axis = self.getAxis("bottom")
        axis.setTicks([[(i, ("\n" if stagger and i % 2 else "") + display_name(l))
                        for i, l in enumerate(self.labels)]])
        # The axis sizes itself for one line of text: the second line would be cut off.
        lines = 2 if stagger else 1
        axis.setHeight(lines * self._line_px + max(0, axis.style["tickLength"]) + axis.style["tickTextOffset"][1] + 4)

    def _brushes(self, heights, threshold):
        return [_QUIET_BRUSH if q else (_HOT_BRUSH if h >= threshold else _COMMAND_BRUSH)
                for h, q in zip(heights, self._quiet)]

    def set_scores(self, scores: np.ndarray) -> None:
        self.heights = np.clip(np.asarray(scores, np.float32), 0.0, 1.0)
        self.bars.setOpts(height=self.heights, brushes=self._brushes(self.heights, self.threshold))

    def set_threshold(self, threshold: float) -> None:
        self.threshold = float(threshold)
        self.threshold_line.setValue(self.threshold)
        self.set_scores(self.heights)
