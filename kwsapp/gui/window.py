"""The main window: menus and toolbar, the live views, history and status bar, composed here.

Threads: the GUI thread only draws. The engine's lifecycle (starter threads, locks, sessions)
belongs to :class:`.listening.controller.EngineController`; the window asks it for a source
and hears back through its signals, on the GUI thread.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
from typing import TYPE_CHECKING

import numpy as np
from PyQt6 import QtCore, QtGui, QtWidgets

from ..core.errors import DeviceError, KwsError, ModelError
from ..core.features import FeatureConfig
from ..core.model import BUNDLED_MODEL_DIR
from ..core.smoothing import SmoothingConfig
from . import gcguard
from .actions import marks
from .actions.actionrunner import GuiActions
from .actions.alerts import SOUND_FILE, DetectionAlerts
from .actions.clipplayer import ClipPlayer
from .actions.sounds import SoundPlayer, wav_problem
from .banner import ProblemBanner
from .listening import engine_api
from .listening.controller import JOIN_S, EngineController
from .listening.devicecombo import DeviceCombo
from .listening.engine_api import SourceSpec
from .listening.modelchoice import ModelChoice
from .live.history import HistoryTable
from .live.peak import PeakTracker
from .live.quiethint import QuietHint
from .live.readout import DetectionReadout
from .live.scores import QUIET_LABELS, ScoresView, display_name
from .live.spectrogram import SpectrogramView
from .live.statusline import StatusLine
from .modelinfo import is_bundled, model_name, model_words, source_name
from .settings.panel import SmoothingPanel
from .settings.store import Store
from .tray import Tray

if TYPE_CHECKING:
    from .voice.dialog import VoiceTrainDialog

STATUS_MS = 250
BARS_MS = 40  # score bars and the 'hearing' line refresh at 25 fps at most, however fast hops come

log = logging.getLogger(__name__)


class MainWindow(QtWidgets.QMainWindow):
    def __init__(self, store: Store, spec: SourceSpec | None = None, model_dir: str | None = None,
                 autostart: bool = True, verifier: str | None = None):
        super().__init__()
        # Before any thread of ours starts (see gcguard); released when closed for real, or
        # when destroyed without a close.
        self._gc_key = id(self)
        gcguard.hold(self._gc_key)
        self.destroyed.connect(functools.partial(gcguard.release, self._gc_key))
        self.store = store
        self.models = ModelChoice(model_dir or store.model_dir or BUNDLED_MODEL_DIR)
        self.verifier = verifier  # a verifier folder (kwsapp --verifier) or None: the VGG alone
        self.spec = spec or SourceSpec("mic", device=store.device)
        # The user's own smoothing once they set any; until then the model's tuned threshold.
        self.smoothing = (store.smoothing(engine_api.smoothing_class()) if store.has_smoothing()
                          else engine_api.model_smoothing(self.model_dir))
        self.controller = EngineController(self)
        self.controller.hop.connect(self._on_hop)
        self.controller.heard.connect(self._on_heard)
        self.controller.error.connect(self._on_error)
        self.controller.ready.connect(self._on_ready)
        self.controller.finished.connect(self._on_finished)
        self._running = False  # what the user asked for (the engine may still be loading)
        self._latest = None
        self._bars_dirty = False
        self.voice_dialog: VoiceTrainDialog | None = None
        self.messages: list[str] = []  # this session's problems and changes, for Help → About
        # The user's commands (Settings → Actions), run off this thread. Not ``self.actions``:
        # that would hide QWidget.actions(), which Qt and tests use to list the window's QActions.
        self.action_runner = GuiActions(self)
        self.action_runner.report.connect(self._on_action_report)
        self.action_runner.set_actions(store.actions())

        self._build_controls()
        self._build_views()
        self.status_line = StatusLine(self._status_bar())
        self.history.folder = store.start_folder("csv_folder")
        self.history.saved.connect(self._on_saved_csv)
        self.history.play.connect(self.play_clip)
        self.history.mark.connect(self.mark_detection)
        self.action_runner.clip_saved.connect(self.history.set_clip)
        self.clip_player = ClipPlayer(self)
        self._show_model()
        self.refresh_devices()
        g = store.geometry()
        if g is not None:
            self.restoreGeometry(g)
        else:
            self.resize(1000, 760)

        self._bars_timer = QtCore.QTimer(self)
        self._bars_timer.timeout.connect(self._refresh_bars)
        self._bars_timer.start(BARS_MS)
        self._status_timer = QtCore.QTimer(self)
        self._status_timer.timeout.connect(lambda: self.status_line.refresh(self._latest, self.controller.engine))
        self._status_timer.start(STATUS_MS)
        self._quitting = False  # Quit (menu, tray) ends the app even when closing goes to the tray
        self.tray = None
        if Tray.available():
            self.tray = Tray(self)
            self.tray.show_requested.connect(self.show_from_tray)
            self.tray.quit_requested.connect(self.quit)
        self.sounds = SoundPlayer(self)  # each word's sound (Settings → Actions), never waited for
        self.sounds.problem.connect(self._on_action_report)
        self.alerts = DetectionAlerts(self.sounds, self._on_action_report, self.tray)
        self.alerts.actions = store.actions()
        if autostart and self.model_config is not None:
            QtCore.QTimer.singleShot(0, self.start)

    # ---------------------------------------------------------------- building the window
    def _action(self, text: str, slot, shortcut: str | None = None, tip: str | None = None) -> QtGui.QAction:
        a = QtGui.QAction(text, self)
        a.triggered.connect(lambda _=False: slot())
        if shortcut:
            a.setShortcut(QtGui.QKeySequence(shortcut))
        if tip:
            a.setToolTip(tip)
        self.addAction(a)  # its shortcut works whether or not a menu or toolbar shows it
        return a

    def _build_controls(self) -> None:
        # Every action lives in the menu bar, so nothing depends on the toolbar's width; the
        # toolbar repeats only the frequent ones.
        A = self._action
        self.open_action = A("Open WAV file…", self.open_wav, "Ctrl+O", "Listen to a WAV file instead of a microphone")
        self.save_action = A("Save detections as CSV…", lambda: self.history._ask_save(), "Ctrl+S")
        self.clear_action = A("Clear detections", lambda: self.history.clear(), "Ctrl+L")
        self.quit_action = A("Quit", self.quit, "Ctrl+Q")
        self.start_action = A("Start", self.toggle, "Space", "Start or stop listening (Space)")
        self.devices_action = A("Choose input device…", self.offer_devices)
        self.refresh_action = A("↻", self.refresh_devices, "F5", "Look for input devices again (F5)")
        self.model_action = A("Model folder…", self.choose_model, "Ctrl+M", "Use another model folder")
        self.bundled_action = A("Bundled model", lambda: self.set_model_dir(BUNDLED_MODEL_DIR),
                                tip="Switch back to the model that comes with the app")
        self.voice_action = A("Train on my voice…", self.open_voice_training)
        self.settings_action = A("Settings…", self.open_settings, "Ctrl+,", "Detection settings")
        self.about_action = A("About kwsapp", self.open_about)
        self.log_action = A("Log", self.open_log, tip="What the app did this session, to copy into a bug report")

        mb = self.menuBar()
        assert mb is not None  # QMainWindow makes its menu bar on the first call
        menus = {
            "&File": (self.open_action, self.save_action, self.clear_action, None, self.quit_action),
            "&Listen": (self.start_action, self.devices_action, self.refresh_action),
            "&Model": (self.model_action, self.bundled_action, self.voice_action),
            "&Settings": (self.settings_action,),
            "&Help": (self.log_action, self.about_action),
        }
        for title, actions in menus.items():
            m = mb.addMenu(title)
            assert m is not None
            for a in actions:
                m.addSeparator() if a is None else m.addAction(a)
        self.refresh_action.setIconText("↻")  # the menu says it in words
        self.refresh_action.setText("Look for input devices again")

        tb = self.addToolBar("Controls")
        assert tb is not None
        tb.setMovable(False)
        tb.addWidget(QtWidgets.QLabel(" Input: "))
        self.device_combo = DeviceCombo()
        self.device_combo.activated.connect(self._device_chosen)
        tb.addWidget(self.device_combo)
        tb.addAction(self.refresh_action)
        tb.addSeparator()
        tb.addAction(self.start_action)
        tb.addSeparator()
        tb.addAction(self.open_action)
        tb.addAction(self.voice_action)
        tb.addSeparator()
        tb.addWidget(QtWidgets.QLabel(" Threshold: "))
        self.threshold_spin = QtWidgets.QDoubleSpinBox()
        self.threshold_spin.setRange(0.05, 1.0)
        self.threshold_spin.setSingleStep(0.05)
        self.threshold_spin.setDecimals(2)
        self.threshold_spin.setValue(self.threshold)
        self.threshold_spin.setToolTip("Smoothed score a command must reach to count as detected")
        self.threshold_spin.valueChanged.connect(self._threshold_changed)
        # A spin box takes Space as typing (and drops it); here it is the app's Start/Stop.
        self.threshold_spin.installEventFilter(self)
        edit = self.threshold_spin.lineEdit()
        assert edit is not None  # a spin box always has its line edit
        edit.installEventFilter(self)
        tb.addWidget(self.threshold_spin)
        tb.addAction(self.settings_action)

        self.banner = ProblemBanner()
        self.banner.devices_button.clicked.connect(self.offer_devices)
        self.banner.wav_button.clicked.connect(self.open_wav)
        self.banner.model_button.clicked.connect(self.choose_model)

    def _build_views(self) -> None:
        central = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(central)
        lay.addWidget(self.banner)
        self.quiet_hint = QuietHint()
        self.quiet_hint.changed.connect(lambda quiet: self.note(self.quiet_hint.text() if quiet else "input level back"))
        lay.addWidget(self.quiet_hint)
        self.splitter = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        self.readout = DetectionReadout()
        self.history: HistoryTable = HistoryTable()
        self.middle = QtWidgets.QWidget()
        self.middle_lay = QtWidgets.QHBoxLayout(self.middle)
        self.middle_lay.setContentsMargins(0, 0, 0, 0)
        self._make_model_views()
        self.middle_lay.addWidget(self.readout, 1)
        self.splitter.addWidget(self.middle)
        self.splitter.addWidget(self.history)
        self.splitter.setSizes([280, 220, 230])  # the history shows 8 rows at the default size, 5 at 800x600
        lay.addWidget(self.splitter, 1)
        self.setCentralWidget(central)

    def _make_model_views(self) -> None:
        """(Re)build the views whose shape depends on the model (bins, frame rate, labels)."""
        cfg = self.model_config
        feats = cfg.features if cfg else FeatureConfig()
        labels = cfg.labels if cfg else _default_labels()
        spec = SpectrogramView(feats.num_mel_bins, feats.sample_rate / feats.hop_samples,
                               feats.lower_hz, feats.upper_hz)
        scores = ScoresView(labels, self.threshold)
        if getattr(self, "spectrogram", None) is None:  # the first build
            self.splitter.insertWidget(0, spec)
            self.middle_lay.insertWidget(0, scores, 2)
        else:
            self.spectrogram.stop_timer()
            self.splitter.replaceWidget(0, spec)
            self.middle_lay.replaceWidget(self.scores, scores)
            # Hidden first: a pyqtgraph view painted while Qt tears down its scene raises.
            for old in (self.spectrogram, self.scores):
                old.hide()
                old.deleteLater()
        self.spectrogram: SpectrogramView = spec
        self.scores: ScoresView = scores
        if getattr(self, "peak", None) is not None:
            self.peak.deleteLater()
        self.peak: PeakTracker = PeakTracker(labels, self)
        self.peak.raised.connect(self._on_peak)

    def eventFilter(self, obj, ev):  # noqa: N802 (Qt naming)
        if (ev.type() == QtCore.QEvent.Type.KeyPress and ev.key() == QtCore.Qt.Key.Key_Space
                and obj in (self.threshold_spin, self.threshold_spin.lineEdit())):
            self.toggle()
            return True
        return super().eventFilter(obj, ev)

    def _on_saved_csv(self, path: str, n: int) -> None:
        self.store.csv_folder = os.path.dirname(path)
        message = f"Saved {n} detection{'s' if n != 1 else ''} to {path}"
        self.note(message)
        self._status_bar().showMessage(message, 10000)

    def _status_bar(self) -> QtWidgets.QStatusBar:
        bar = self.statusBar()
        assert bar is not None  # QMainWindow makes its status bar on the first call
        return bar

    # ---------------------------------------------------------------- model
    def _show_model(self) -> None:
        """The active model in the title and the status bar: after a fine-tune, the user sees it is in use."""
        name = model_name(self.model_dir) + (" + check" if self.verifier else "")
        words = model_words(self.model_config)
        self.setWindowTitle(f"kwsapp — model: {name}" + (f" ({', '.join(words)})" if words else " (none loaded)"))
        self.status_line.model_label.setText(f"model: {name}")
        self.history.words = words
        self.status_line.model_label.setToolTip(f"{self.model_dir}\nwords: {', '.join(words) or '–'}" + (
            f"\nsecond-stage check (--verifier): {self.verifier}" if self.verifier else ""))

    def note(self, message: str) -> None:
        """One line in this session's message log (Help → About), and in the app's log."""
        self.messages.append(f"{time.strftime('%H:%M:%S')} {message}")
        del self.messages[:-200]
        log.info(message)

    def open_log(self) -> None:
        from .logview import LogDialog

        self.log_dialog = LogDialog(self)
        self.log_dialog.open()

    def open_about(self) -> None:
        from .about import AboutDialog

        self.about_dialog = AboutDialog(self.model_dir, self.model_config, self.controller.engine, self.messages, self)
        self.about_dialog.open()

    @property
    def model_dir(self) -> str:
        return self.models.folder

    @property
    def model_config(self):
        return self.models.config

    def showEvent(self, ev):  # noqa: N802 (Qt naming)
        super().showEvent(ev)
        if self.models.problem and self.model_config is None:
            self.show_problem(self.models.problem, model=True)

    def set_model_dir(self, model_dir: str) -> bool:
        """Switch to the model in ``model_dir``; if it has none, say so and keep the current one."""
        problem = self.models.choose(model_dir)
        if problem:
            self.show_problem(problem, model=True)
            return False
        self._model_changed()
        self.banner.hide()
        if self._running or self.controller.engine is None:
            self.start()
        return True

    def _model_changed(self) -> None:
        """Everything that shows or follows the model: the remembered folder, threshold, views, title."""
        model_dir = self.model_dir
        self.store.model_dir = None if is_bundled(model_dir) else model_dir
        if not self.store.has_smoothing():  # follow the new model's tuned threshold
            self.smoothing = engine_api.model_smoothing(model_dir)
            self._show_threshold()
        self._make_model_views()
        self._show_model()
        self.note(f"model {model_name(model_dir)} ({model_dir})")

    def choose_model(self) -> None:
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Choose a model folder (with config.json)",
                                                       self.store.start_folder("model_folder"))
        if d:
            self.store.model_folder = os.path.dirname(os.path.normpath(d))  # next time: beside this one
            self.set_model_dir(d)

    def open_voice_training(self) -> None:
        from .voice.dialog import VoiceTrainDialog

        if self.voice_dialog is not None and self.voice_dialog.isVisible():
            self.voice_dialog.raise_()
            return
        resume = self._running
        if resume:  # the takes need the microphone, and the model must not react to them
            self.stop()
        device = self.spec.device if self.spec.kind == "mic" else self.store.device
        d = self.voice_dialog = VoiceTrainDialog(self.model_dir, device, self)
        d.model_trained.connect(self.set_model_dir)

        def finished(_: int) -> None:
            if resume and not self._running:
                self.start()

        d.finished.connect(finished)
        d.open()

    # ---------------------------------------------------------------- smoothing settings
    @property
    def threshold(self) -> float:
        return float(getattr(self.smoothing, "detection_threshold", SmoothingConfig().detection_threshold))

    def _show_threshold(self) -> None:
        if abs(self.threshold_spin.value() - self.threshold) > 1e-9:
            self.threshold_spin.blockSignals(True)
            self.threshold_spin.setValue(self.threshold)
            self.threshold_spin.blockSignals(False)

    def set_smoothing(self, cfg) -> None:
        self.smoothing = cfg
        self.store.set_smoothing(cfg)
        self.scores.set_threshold(self.threshold)
        self._show_threshold()
        self.controller.update_settings(cfg, self.verifier)

    def _threshold_changed(self, value: float) -> None:
        if hasattr(self.smoothing, "detection_threshold"):
            self.set_smoothing(dataclasses.replace(self.smoothing, detection_threshold=float(value)))

    def open_settings(self) -> None:
        from .actions.actionstab import ActionsTab

        tuned = engine_api.model_smoothing(self.model_dir)
        tab = ActionsTab(model_words(self.model_config), self.smoothing, tuned, self.store.actions(),
                         self.store.close_to_tray, QtWidgets.QSystemTrayIcon.isSystemTrayAvailable(),
                         self.store.clips_folder)
        tab.preview.connect(self.sounds.play)
        panel = SmoothingPanel(self.smoothing, self, defaults=tuned, actions_tab=tab)
        panel.applied.connect(self.set_smoothing)
        panel.actions_applied.connect(self.set_actions)
        self.settings_panel = panel  # reachable for tests
        panel.open()

    def set_actions(self, actions: dict, close_to_tray: bool = False, clips_folder: str = "") -> None:
        self.store.set_actions(actions)
        self.store.close_to_tray = close_to_tray
        self.store.clips_folder = clips_folder
        self.action_runner.set_actions(actions)
        self.alerts.actions = actions
        # A program or a sound file not found is kept (it may be there later), but said now, not
        # at the first detection.
        problems = self.action_runner.missing(actions) + [
            f"{w}: {why}" for w, a in actions.items() if a.sound == SOUND_FILE and (why := wav_problem(a.sound_file))]
        if problems:
            self._on_action_report("actions: " + "; ".join(problems))

    def play_clip(self, path: str) -> None:
        problem = self.clip_player.play(path)
        if problem:
            self._on_action_report(problem)
        else:
            self._status_bar().showMessage(f"playing {os.path.basename(path)}", 3000)

    def mark_detection(self, n: int, mark: str, label: str) -> None:
        """History row ``n`` marked right or wrong ("": cleared): its clip is kept (or no longer)
        as a take of ``label`` for Train on my voice. A small file copied: fine on this thread."""
        row = self.history.row(n)
        if row is None or not row.clip:
            return
        try:
            take = marks.remark(row.clip, row.take, mark, label)
        except KwsError as e:
            self._on_action_report(str(e))
            return
        self.history.set_mark(n, mark, label, take)
        heard = f"“{row.command}” at {row.wall_time[11:19]}"
        message = (f"{heard} marked {mark}: kept as a take of “{display_name(label)}” for Train on my voice"
                   if mark else f"{heard}: mark cleared, its take is no longer kept")
        self.note(message)
        self._status_bar().showMessage(message, 10000)

    def _on_action_report(self, line: str) -> None:
        self.note(line)
        self._status_bar().showMessage(line, 10000)

    # ---------------------------------------------------------------- devices and input
    def refresh_devices(self) -> None:
        try:
            # A rescan closes every PortAudio stream: only while nothing records or starts.
            devices = engine_api.list_devices(rescan=self.controller.idle and not self._running)
            problem = None
        except KwsError as e:
            devices, problem = [], str(e)
        self.device_combo.show_devices(devices, self.spec)
        self.devices = devices
        if not devices and self.spec.kind == "mic":
            self.show_problem(problem or "No audio input device was found. Plug in a microphone and "
                              "press “Choose device…”, or open a WAV file to listen to instead.")
        elif devices and self.banner.isVisible() and not self.banner.model_button.isVisible() \
                and self.controller.engine is None and not self._running and self.spec.kind == "mic":
            self.status_line.state_label.setText(f"{len(devices)} input device(s) found — pick one to start")

    def offer_devices(self) -> None:
        """Look again and drop the list open: the user picks one and it starts."""
        self.refresh_devices()
        self.device_combo.showPopup()

    def _device_chosen(self, index: int) -> None:
        data = self.device_combo.itemData(index)
        if isinstance(data, tuple):  # the file entry: replay it
            spec = SourceSpec("file", path=data[1])
        else:
            spec = SourceSpec("mic", device=data)
            self.store.device = data
        self.start(spec)

    def open_wav(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open a WAV file", self.store.start_folder("wav_folder"),
                                                        "WAV files (*.wav *.WAV);;All files (*)")
        if path:
            self.store.wav_folder = os.path.dirname(path)
            self.start(SourceSpec("file", path=path))

    # ---------------------------------------------------------------- engine lifecycle
    def toggle(self) -> None:
        self.stop() if self._running else self.start()

    def start(self, spec: SourceSpec | None = None) -> None:
        if spec is not None:
            self.spec = spec
            if spec.kind == "file":
                self.refresh_devices()
        if self.model_config is None:
            self.show_problem(self.models.problem or f"no usable model in {self.model_dir}", model=True)
            return
        self.banner.hide()
        self.spectrogram.clear_image()
        self._running = True
        self.start_action.setText("Stop")
        self._say(f"starting: {source_name(self.spec)} …")
        self.controller.request(self.spec, self.model_dir, self.smoothing, self.verifier)

    def stop(self) -> None:
        self._show_stopped()
        self.controller.request(None)

    def _say(self, text: str) -> None:
        self.status_line.state_label.setText(text)
        self.status_line.state_label.setToolTip(self.spec.describe())

    def _show_stopped(self) -> None:
        """Button and status bar agree: nothing runs, so no live figures stay up."""
        self._running = False
        self._latest = None
        self.start_action.setText("Start")
        self.status_line.reset()
        self.quiet_hint.reset()

    def shutdown(self, timeout: float = JOIN_S) -> None:
        """Stop audio and worker now (GUI thread); wait for starter threads to finish."""
        self.controller.shutdown(timeout)
        self._running = False
        self._bars_timer.stop()
        self._status_timer.stop()
        self.spectrogram.stop_timer()
        if self.voice_dialog is not None:
            from .voice.dialog import QUIT_WAIT_MS

            self.voice_dialog.shutdown(QUIT_WAIT_MS)  # the app is ending: no 3 s wait for a fine-tune
        self.action_runner.shutdown()

    def quit(self) -> None:
        """End the app, tray or not, whatever other windows are open."""
        self._quitting = True
        if self.close():
            # Qt ends its loop only when the last window closes: an open Help → Log, a dialog
            # or a combo popup would keep the process running after Ctrl+Q.
            QtWidgets.QApplication.quit()

    def show_from_tray(self) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    def closeEvent(self, ev):  # noqa: N802
        self.store.set_geometry(self.saveGeometry())
        self.store.sync()
        if self.tray is not None and self.store.close_to_tray and not self._quitting:
            # Only hidden: the engine keeps listening and actions keep running. Without this,
            # Qt would end the app when a dialog opened from the tray closes.
            QtWidgets.QApplication.setQuitOnLastWindowClosed(False)
            ev.ignore()
            self.hide()
            self.tray.say_hidden()
            return
        if self.tray is not None:
            self.tray.remove()
        # Back to Qt's default (a hide to the tray turned it off): closing for real ends the app.
        QtWidgets.QApplication.setQuitOnLastWindowClosed(True)
        self.shutdown()
        gcguard.release(self._gc_key)  # our threads have stopped
        super().closeEvent(ev)

    # ---------------------------------------------------------------- engine events (GUI thread)
    def _on_ready(self, engine) -> None:
        self.models.loaded()
        # A file by its name (its path is in the tooltip: a long one would push the status bar
        # past an 800-pixel window); a microphone as the engine found it.
        self._say(f"listening: {source_name(self.spec) if self.spec.kind == 'file' else self._describe(engine)}")
        self.status_line.device_label.setText(getattr(engine, "device", "CPU"))

    def _on_finished(self, _=None) -> None:
        src = getattr(self.controller.engine, "source", None)
        self.spectrogram.flush()
        self.stop()
        self._say(f"finished playing {source_name(self.spec) if src else 'the file'} — Start plays it again")

    def _on_hop(self, r) -> None:
        self.spectrogram.push_columns(r.columns)
        self.peak.hop(r.smoothed, r.stream_time_s)
        self.status_line.level_meter.push(r.level_db, r.stream_time_s)
        self.quiet_hint.push(r.level_db, r.stream_time_s)
        self._latest = r
        self._bars_dirty = True

    def _on_heard(self, heard) -> None:
        det = heard.detection
        if det.label in QUIET_LABELS:  # not a command: the engine should never send these
            return
        row = self.history.add(det.stream_time_s, det.label, det.score, source=source_name(self.spec),
                               model=model_name(self.model_dir), session=self.controller.session)
        # Saving the clip and starting the command happen on a worker; the row gets its ▶ then.
        rate = self.model_config.features.sample_rate if self.model_config else 16000
        self.action_runner.fire(det, heard.clip, self.store.clips_folder, rate, token=row.n)
        self.alerts.heard(det.label, det.score)
        self.peak.start(det)
        self.readout.show_detection(det.label, det.score)
        if self.tray is not None:
            self.tray.show_detection(det.label, det.score)

    def _on_peak(self, _label: str, score: float) -> None:
        self.readout.raise_score(score)
        self.history.raise_score(score)

    def _on_error(self, err) -> None:
        was_running = self._running
        self._show_stopped()
        if isinstance(err, ModelError):
            message, went_back = self.models.weights_failed(err)
            if went_back:  # the chosen folder's weights do not load: back to the model that worked
                self._model_changed()
                if was_running:
                    self.start()
                self.show_problem(message, model=True)  # after start() hid it
                return
            # A folder whose config reads but whose weights do not load must not come back
            # at the next start: fall back to the bundled model there.
            if self.store.model_dir == self.model_dir:
                self.store.model_dir = None
            self.show_problem(message, model=True)
        elif isinstance(err, DeviceError):
            self.refresh_devices()
            self.show_problem(f"{err} — choose another input device above, or open a WAV file.")
        else:
            self.show_problem(str(err))

    def show_problem(self, message: str, model: bool = False) -> None:
        self.note(message)
        self.banner.show_problem(message, model=model)
        if not self._running:  # a refused model folder leaves the running engine (and "Stop") as they are
            self.status_line.state_label.setText("stopped")

    @staticmethod
    def _describe(engine) -> str:
        src = getattr(engine, "source", None)
        if src is None:
            return "input"
        try:
            return src.describe()
        except Exception:
            return "input"

    def _refresh_bars(self) -> None:
        if not self._bars_dirty or self._latest is None:
            return
        self._bars_dirty = False
        smoothed = np.asarray(self._latest.smoothed)
        self.scores.set_scores(smoothed)
        i = int(np.argmax(smoothed))
        self.readout.show_quiet(self.scores.labels[i], float(smoothed[i]))


def _default_labels():
    # Only for drawing the (empty) score chart when no model could be read.
    from ..core.vocabulary import LABELS

    return LABELS
