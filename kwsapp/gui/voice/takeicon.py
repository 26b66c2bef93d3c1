"""A take's small waveform picture and peak level, for the list of takes in the voice dialog."""
from __future__ import annotations

import numpy as np
from PyQt6 import QtCore, QtGui

from ...core.errors import KwsError
from ...core.wavio import load_audio

W, H = 64, 16


def take_icon(path: str) -> tuple[QtGui.QIcon, float]:
    """(waveform icon, peak level in dBFS); a take that cannot be read gets an empty icon."""
    try:
        x = np.abs(load_audio(path, 16000))
    except (KwsError, OSError):
        return QtGui.QIcon(), -120.0
    peak = float(x.max()) if len(x) else 0.0
    pix = QtGui.QPixmap(W, H)
    pix.fill(QtCore.Qt.GlobalColor.transparent)
    if len(x):
        cols = np.array_split(x, W)
        p = QtGui.QPainter(pix)
        p.setPen(QtGui.QColor(70, 140, 230))
        for i, c in enumerate(cols):
            h = int(round(min(1.0, float(c.max()) if len(c) else 0.0) * (H - 2) / 2))
            p.drawLine(i, H // 2 - h, i, H // 2 + h)
        p.end()
    return QtGui.QIcon(pix), 20 * np.log10(peak) if peak > 0 else -120.0
