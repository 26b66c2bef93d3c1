"""Help → About: version, the active model, the runtime, and this session's messages."""
from __future__ import annotations

import platform
import sys

import numpy as np
from PyQt6 import QtCore, QtWidgets

from .. import __version__
from .modelinfo import model_name, model_words


def runtime_lines(engine=None) -> list[str]:
    """What the app runs on. TensorFlow is named only if already loaded: the GUI thread
    never imports it (that takes seconds)."""
    lines = [f"Python {platform.python_version()} on {platform.system()} {platform.machine()}",
             f"Qt {QtCore.qVersion()}, PyQt {QtCore.PYQT_VERSION_STR}, NumPy {np.__version__}"]
    tf = sys.modules.get("tensorflow")
    if tf is not None and hasattr(tf, "__version__"):
        lines.append(f"TensorFlow {tf.__version__}")
    if engine is not None:
        lines.append(f"model runs on: {getattr(engine, 'device', 'CPU')}")
    return lines


def about_text(model_dir: str, config, engine=None) -> str:
    words = model_words(config)
    model = (f"Model: {model_name(model_dir)} — {model_dir}\nWords: {', '.join(words)}" if config is not None
             else f"Model: none loaded ({model_dir})")
    return "\n".join([f"kwsapp {__version__} — real-time keyword spotting", "", model, "",
                      "Runtime:", *("  " + l for l in runtime_lines(engine))])


class AboutDialog(QtWidgets.QDialog):
    def __init__(self, model_dir: str, config, engine=None, messages=(), parent=None):
        super().__init__(parent)
        self.setWindowTitle("About kwsapp")
        self.text = QtWidgets.QLabel(about_text(model_dir, config, engine))
        self.text.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.log = QtWidgets.QPlainTextEdit("\n".join(messages) or "(no messages yet)")
        self.log.setReadOnly(True)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self.text)
        lay.addWidget(QtWidgets.QLabel("This session's messages:"))
        lay.addWidget(self.log, 1)
        lay.addWidget(buttons)
        self.resize(560, 420)
