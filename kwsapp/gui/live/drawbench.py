"""How much the scrolling spectrogram costs: ``python -m kwsapp.gui.live.drawbench [seconds]``.

Feeds a visible :class:`SpectrogramView` random columns the way the engine does (ten every
100 ms) and reports frames drawn per second and this process's CPU load. Runs on whatever
Qt platform is set (``QT_QPA_PLATFORM=offscreen`` needs no display).
"""
from __future__ import annotations

import sys
import time

import numpy as np


def measure(seconds: float = 5.0) -> dict:
    from PyQt6 import QtCore, QtWidgets

    from .spectrogram import SpectrogramView

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    view = SpectrogramView(40, 100, 80, 7600, history_s=6.0)
    view.resize(940, 300)
    view.show()
    frames = [0]
    set_image = view.image.setImage

    def counted(*a, **k):
        frames[0] += 1
        return set_image(*a, **k)

    view.image.setImage = counted
    rng = np.random.default_rng(0)
    hop = QtCore.QTimer()
    hop.timeout.connect(lambda: view.push_columns(rng.uniform(-10, 3, (10, 40)).astype(np.float32)))
    hop.start(100)

    def spin(until):
        while time.monotonic() < until:
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 5)
            time.sleep(0.001)

    spin(time.monotonic() + 1.0)  # warm-up: first paints, caches
    frames[0] = 0
    t0, c0 = time.monotonic(), time.process_time()
    spin(t0 + seconds)
    wall, cpu = time.monotonic() - t0, time.process_time() - c0
    hop.stop()
    view.stop_timer()
    view.close()
    return {"fps": frames[0] / wall, "cpu_percent": 100 * cpu / wall,
            "cpu_ms_per_frame": 1000 * cpu / max(frames[0], 1)}


def main() -> int:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    r = measure(seconds)
    print(f"spectrogram: {r['fps']:.1f} frames/s, {r['cpu_percent']:.1f}% of one core "
          f"({r['cpu_ms_per_frame']:.2f} ms CPU per frame, paint included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
