"""The scrolling log-mel spectrogram.

Cost is kept friture-like: each new column is colour-mapped once, when it arrives, into an
RGBA ring buffer stored twice side by side, so the visible window is always one contiguous
slice of that buffer (no roll, no concatenation, no colour mapping of old columns). A timer
reveals the columns at their real rate (the engine delivers them in hop-sized bursts), which
makes the scroll smooth at the display rate instead of jumping once per hop.
"""
from __future__ import annotations

import math
import time
from collections import deque

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore

# Fixed levels (natural-log mel magnitudes): about -10 is digital near-silence, +3.5 a loud
# close voice. Fixed rather than adaptive so colours mean the same thing all the time.
DEFAULT_LEVELS = (-10.0, 3.5)
TICK_HZ = (100, 250, 500, 1000, 2000, 4000, 7000)


def _hz_to_mel(f):
    # The HTK formula tf.signal.linear_to_mel_weight_matrix uses; only for axis labels.
    return 1127.0 * np.log1p(np.asarray(f, float) / 700.0)


def mel_axis_ticks(num_bins: int, lower_hz: float, upper_hz: float) -> list[tuple[float, str]]:
    """Positions (in bin units, bin k drawn over [k, k+1]) of round frequencies on the mel axis."""
    lo, hi = _hz_to_mel(lower_hz), _hz_to_mel(upper_hz)
    step = (hi - lo) / (num_bins + 1)  # band centres sit at lo + (k+1)*step
    ticks = []
    for f in TICK_HZ:
        if lower_hz <= f <= upper_hz:
            y = (_hz_to_mel(f) - lo) / step - 0.5
            if 0 <= y <= num_bins:
                ticks.append((float(y), f"{f // 1000}k" if f >= 1000 else str(f)))
    return ticks


class SpectrogramView(pg.PlotWidget):
    """Feed it ``push_columns([n, bins])`` (GUI thread); it scrolls by itself."""

    def __init__(self, num_bins: int, frame_rate_hz: float, lower_hz: float, upper_hz: float,
                 history_s: float = 6.0, levels=DEFAULT_LEVELS, cmap: str = "inferno",
                 fps: int = 40, parent=None):
        super().__init__(parent)
        self.num_bins = num_bins
        self.frame_rate_hz = float(frame_rate_hz)
        self.history_s = history_s
        self.width_cols = int(round(history_s * frame_rate_hz))
        self._levels = levels
        self._lut = pg.colormap.get(cmap).getLookupTable(nPts=256, alpha=True)
        self._buf = np.empty((2 * self.width_cols, num_bins, 4), np.uint8)
        self._pending: deque[np.ndarray] = deque()
        self._n_pending = 0
        self._credit = 0.0
        self._last_tick = time.monotonic()
        self.columns_shown = 0  # total revealed, for tests and the benchmark
        # Columns allowed to wait before we catch up (bursts from a faster-than-real-time file).
        self._max_lag = max(1, int(0.35 * frame_rate_hz))

        self.image = pg.ImageItem(axisOrder="col-major")
        self.addItem(self.image)
        self.setLabel("bottom", "time (s)")
        self.setLabel("left", "Hz (mel scale)")  # short: it must fit the view's height at 800x600 with a banner
        self.getAxis("left").setTicks([mel_axis_ticks(num_bins, lower_hz, upper_hz)])
        self.setXRange(-history_s, 0, padding=0)
        self.setYRange(0, num_bins, padding=0)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.setMenuEnabled(False)
        self.clear_image()

        self._timer = QtCore.QTimer(self)
        self._timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)
        self._timer.start(int(1000 / fps))

    # -- data in -------------------------------------------------------------------------
    def colourise(self, columns: np.ndarray) -> np.ndarray:
        lo, hi = self._levels
        idx = np.clip((np.asarray(columns, np.float32) - lo) * (255.0 / (hi - lo)), 0, 255)
        return self._lut[idx.astype(np.uint8)]

    def push_columns(self, columns: np.ndarray) -> None:
        if columns is None or len(columns) == 0:
            return
        rgba = self.colourise(columns[:, : self.num_bins])
        self._pending.append(rgba)
        self._n_pending += len(rgba)
        # Never queue more than a screenful: older columns would scroll off unseen anyway.
        while self._n_pending - len(self._pending[0]) >= self.width_cols:
            self._n_pending -= len(self._pending.popleft())

    def clear_image(self) -> None:
        self._buf[:] = self._lut[0]
        self._pos = 0
        self._pending.clear()
        self._n_pending = 0
        self.image.setImage(self._visible(), autoLevels=False)
        # After an image exists (the rect maps its pixels); the shape never changes after.
        self.image.setRect(QtCore.QRectF(-self.history_s, 0, self.history_s, self.num_bins))

    # -- display -------------------------------------------------------------------------
    def _visible(self) -> np.ndarray:
        return self._buf[self._pos : self._pos + self.width_cols]

    def _write(self, rgba: np.ndarray) -> None:
        w = self.width_cols
        rgba = rgba[-w:]
        idx = (self._pos + np.arange(len(rgba))) % w
        self._buf[idx] = rgba
        self._buf[idx + w] = rgba
        self._pos = (self._pos + len(rgba)) % w

    def _take(self, n: int) -> None:
        while n > 0 and self._pending:
            head = self._pending[0]
            if len(head) <= n:
                self._pending.popleft()
                part = head
            else:
                part, self._pending[0] = head[:n], head[n:]
            self._write(part)
            n -= len(part)
            self._n_pending -= len(part)
            self.columns_shown += len(part)

    def _tick(self) -> None:
        now = time.monotonic()
        dt, self._last_tick = now - self._last_tick, now
        if not self._n_pending:
            self._credit = 0.0  # idle time earns no backlog
            return
        self._credit += dt * self.frame_rate_hz
        n = int(math.floor(self._credit))
        n = max(n, self._n_pending - self._max_lag)
        n = min(n, self._n_pending)
        if n <= 0:
            return
        self._credit = max(0.0, self._credit - n)
        self._take(n)
        self.image.setImage(self._visible(), autoLevels=False)

    def flush(self) -> None:
        """Show everything pending now (used when a file ends and by tests)."""
        if self._n_pending:
            self._take(self._n_pending)
            self.image.setImage(self._visible(), autoLevels=False)

    def stop_timer(self) -> None:
        self._timer.stop()

    def snapshot(self) -> np.ndarray:
        """A copy of the visible RGBA image, oldest column first."""
        return self._visible().copy()
