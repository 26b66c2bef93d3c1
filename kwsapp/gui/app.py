"""``kwsapp`` with no subcommand: open the window.

``args`` (from kwsapp.cli) has ``.input`` (a WAV file to play in real time), ``.device``
(index or part of a name) and ``.model`` (a model folder).
"""
from __future__ import annotations

import os
import signal
import sys

from ..core.errors import AudioFileError, KwsError
from ..core.model import BUNDLED_MODEL_DIR


def _spec_from_args(args, store):
    from .listening.engine_api import SourceSpec

    if getattr(args, "input", None):
        path = os.path.abspath(args.input)
        if not os.path.isfile(path):
            raise AudioFileError(f"{args.input} does not exist; give the path of a WAV file")
        return SourceSpec("file", path=path)
    device = getattr(args, "device", None)
    if device is not None:
        return SourceSpec("mic", device=int(device) if str(device).strip().isdigit() else device)
    return SourceSpec("mic", device=store.device)


def _model_from_args(args, store) -> str:
    model = getattr(args, "model", None) or BUNDLED_MODEL_DIR
    # --model defaults to the bundled folder: then a folder chosen earlier in the window wins.
    if os.path.abspath(model) == os.path.abspath(BUNDLED_MODEL_DIR) and store.model_dir:
        return store.model_dir
    return model


def check_display(env=os.environ) -> None:
    """Qt aborts the whole process (no exception) when it finds no screen: say it first."""
    platform = env.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith(("xcb", "wayland")):
        return  # offscreen, vnc, eglfs ...: the user chose a platform that needs no desktop
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        raise KwsError("no display found (neither DISPLAY nor WAYLAND_DISPLAY is set); run kwsapp "
                       "in a desktop session, or use `kwsapp listen` to print detections in a terminal")


def exit_now(code: int) -> None:
    """End the process at once: stdio flushed, no interpreter teardown."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run(args, fast_exit: bool = True) -> int:
    from .. import logbook
    from ..core.vocabulary import SETTINGS_ENV

    logbook.install()  # Help → Log shows what the engine, sources and window logged
    from .settings.store import Store, open_settings

    store = Store(open_settings(os.environ.get(SETTINGS_ENV)))
    spec = _spec_from_args(args, store)  # a bad --input fails here, before any window
    verifier = getattr(args, "verifier", None)
    if verifier is not None:  # and a bad --verifier folder (or `kwsapp --verifier listen`)
        from ..core.verifier import read_verifier_config

        read_verifier_config(verifier)
    check_display()

    from PyQt6 import QtCore, QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setApplicationName("kwsapp")
    app.setOrganizationName("kwsapp")

    from .window import MainWindow

    win = MainWindow(store, spec=spec, model_dir=_model_from_args(args, store),
                     verifier=verifier)
    win.show()

    # Ctrl-C in the terminal or a SIGTERM quits the normal way (clean shutdown).
    # Qt's loop does not run Python code on its own, so a timer lets the handler in.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: win.quit())  # quit, not close: closing may go to the tray
    tick = QtCore.QTimer()
    tick.timeout.connect(lambda: None)
    tick.start(200)
    code = app.exec()
    # By now the window has stopped the audio and the engine and saved the settings (closeEvent).
    # What is left is the interpreter's teardown, in which TensorFlow's native libraries spend
    # seconds with no Python frame on the stack (2.7 s after close measured under load; 0.4 s when
    # no model was loaded): Ctrl+Q must end the process within a second, so skip it.
    if fast_exit:
        exit_now(code)
    return code
