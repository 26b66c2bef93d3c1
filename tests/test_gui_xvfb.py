"""The real app (`python -m kwsapp --input FILE.wav`) on a virtual X screen: it draws a live
spectrogram (screenshot checked, saved under the test's tmp dir) and closes cleanly on SIGTERM."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from test_gui import build_words_wav
from xvfb import virtual_display

SCREEN = (1024, 800)


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed: run `make setup-test` (installs xvfb and imagemagick)")
    return path


@pytest.fixture
def xdisplay():
    _need("Xvfb")
    with virtual_display(SCREEN) as display:
        yield display


def screenshot(display: str, path: str) -> np.ndarray:
    env = dict(os.environ, DISPLAY=display)
    subprocess.run([_need("import"), "-window", "root", path], env=env, check=True, timeout=20,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    raw = subprocess.run([_need("convert"), path, "-depth", "8", "rgb:-"], check=True, timeout=20,
                         capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(SCREEN[1], SCREEN[0], 3)


def warm_pixels(rgb: np.ndarray) -> int:
    """Pixels in the orange/yellow end of the spectrogram's colour map: loud speech."""
    r, g, b = (rgb[..., i].astype(int) for i in range(3))
    return int(((r > 200) & (g > 90) & (b < 120)).sum())


def app_window(display: str) -> tuple[int, int, int, int]:
    """(x, y, width, height) of the app's top-level window on the screen, from the X server."""
    tree = subprocess.run([_need("xwininfo"), "-root", "-tree"], env=dict(os.environ, DISPLAY=display),
                          capture_output=True, text=True, timeout=20).stdout
    for line in tree.splitlines():
        if "kwsapp" in line:
            m = re.search(r"(\d+)x(\d+)[+-]-?\d+[+-]-?\d+\s+\+(-?\d+)\+(-?\d+)", line)
            if m and int(m.group(1)) > 200:
                w, h, x, y = map(int, m.groups())
                return x, y, w, h
    return None


def spectrogram_area(qtbot, model_dir, tmp_path, size) -> tuple[slice, slice]:
    """Rows and columns of the spectrogram inside a window of ``size``: the same window laid out
    here (offscreen), shrunk by a margin for font differences between the two platforms."""
    from PyQt6 import QtCore

    from kwsapp.gui.settings.store import Store, open_settings
    from kwsapp.gui.window import MainWindow

    w = MainWindow(Store(open_settings(str(tmp_path / "layout.ini"))), model_dir=model_dir, autostart=False)
    qtbot.addWidget(w)
    w.resize(*size)
    w.show()
    qtbot.waitExposed(w)
    top_left = w.spectrogram.mapTo(w, QtCore.QPoint(0, 0))
    x, y, width, height = top_left.x(), top_left.y(), w.spectrogram.width(), w.spectrogram.height()
    w.shutdown()
    m = 12
    return slice(y + m, y + height - m), slice(x + m, x + width - m)


def test_app_under_xvfb_draws_and_closes(xdisplay, data_dir, model_dir, tmp_path, qtbot):
    wav = str(tmp_path / "words.wav")
    build_words_wav(data_dir, wav)
    env = dict(os.environ, DISPLAY=xdisplay, QT_QPA_PLATFORM="xcb", XDG_CONFIG_HOME=str(tmp_path / "config"),
               KWSAPP_SETTINGS=str(tmp_path / "settings.ini"))
    app = subprocess.Popen([sys.executable, "-m", "kwsapp", "--input", wav], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    shot = str(tmp_path / "kwsapp.png")
    try:
        deadline = time.monotonic() + 60
        window = None
        while window is None and time.monotonic() < deadline and app.poll() is None:
            time.sleep(0.5)
            window = app_window(xdisplay)
        assert window is not None, "the app's window never appeared"
        x, y, width, height = window
        rows, cols = spectrogram_area(qtbot, model_dir, tmp_path, (width, height))
        # Only inside the spectrogram: the score bars turn the same orange over the threshold.
        rows, cols = slice(rows.start + y, rows.stop + y), slice(cols.start + x, cols.stop + x)
        rgb = None
        while time.monotonic() < deadline and app.poll() is None:
            time.sleep(1.0)
            rgb = screenshot(xdisplay, shot)
            if warm_pixels(rgb[rows, cols]) > 1500:  # the spectrogram shows a spoken word
                break
        assert app.poll() is None, f"the app exited early:\n{app.stdout.read()}"
        assert rgb is not None and warm_pixels(rgb[rows, cols]) > 1500, f"no spectrogram drawn; see {shot}"
        colours = len(np.unique(rgb.reshape(-1, 3), axis=0))
        assert colours > 200 and rgb.std() > 30  # a real window, not a blank or flat screen
        assert os.path.getsize(shot) > 10_000
    finally:
        if app.poll() is None:
            app.send_signal(signal.SIGTERM)
    # The window itself closes within a second (test_gui checks that); the process also
    # pays TensorFlow's own teardown, seconds on a busy 2-core machine.
    out, _ = app.communicate(timeout=20)
    assert app.returncode == 0, out
    assert "Traceback" not in out
