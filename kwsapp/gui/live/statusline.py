"""The status bar's live figures: what is happening, the model, the input level, the model's
time per window, overflows (only once there are some) and the app's CPU load.

Compact figures with the details in tooltips: at 800 pixels the state text needs the room.
"""
from __future__ import annotations

import time

from PyQt6 import QtWidgets

from ..elidedlabel import ElidedLabel
from .levelmeter import LevelMeter


class StatusLine:
    def __init__(self, bar: QtWidgets.QStatusBar):
        self.level_meter = LevelMeter()
        self.state_label = ElidedLabel("stopped")
        self.rate_label = QtWidgets.QLabel("rate –")
        self.model_ms_label = QtWidgets.QLabel("– ms")
        self.model_ms_label.setToolTip("model time per window")
        self.overflow_label = QtWidgets.QLabel("overflows 0")
        self.overflow_label.setStyleSheet("color: #c03030;")
        self.overflow_label.hide()
        self.device_label = QtWidgets.QLabel("–")
        self.model_label = QtWidgets.QLabel("")
        bar.addWidget(self.state_label, 1)
        # The input rate is kept (About, tooltips) but not shown: it is the same for every
        # microphone and file the user meets.
        for w in (self.model_label, self.level_meter, self.model_ms_label, self.overflow_label, self.device_label):
            bar.addPermanentWidget(w)
        self._cpu = (time.monotonic(), time.process_time())

    def reset(self) -> None:
        """Nothing runs: no live figure stays up."""
        self.state_label.setText("stopped")
        self.model_ms_label.setText("– ms")
        self.rate_label.setText("rate –")
        self.level_meter.reset()

    def refresh(self, latest, engine) -> None:
        """``latest``: the newest hop (or None); ``engine``: the running one (or None)."""
        now, cpu = time.monotonic(), time.process_time()
        t0, c0 = self._cpu
        self._cpu = (now, cpu)
        load = 100.0 * (cpu - c0) / max(now - t0, 1e-3)
        if latest is not None:
            self.model_ms_label.setText(f"{latest.model_ms:.1f} ms")
            self.overflow_label.setText(f"overflows {latest.overflows}")
            self.overflow_label.setVisible(latest.overflows > 0)  # worth the room only when audio was lost
        self.device_label.setText(f"CPU {load:.0f}%")
        src = getattr(engine, "source", None)
        if src is not None:
            rate = getattr(src, "native_rate", None)
            self.rate_label.setText(f"{rate} Hz" if rate else "rate –")
            self.model_ms_label.setToolTip(f"model time per window; input at {self.rate_label.text()}")
            dev = getattr(engine, "device", "CPU")
            self.device_label.setToolTip(f"the model runs on {dev}; the app uses {load:.0f}% of one core")
        else:
            self.device_label.setToolTip(f"the app uses {load:.0f}% of one core")
