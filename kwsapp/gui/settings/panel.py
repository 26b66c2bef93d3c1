"""Settings…: the smoothing fields of the engine (one editor per dataclass field) and, as a second
tab, Settings → Actions; "Restore Defaults" loads the model's tuned values."""
from __future__ import annotations

import dataclasses

from PyQt6 import QtCore, QtWidgets

# The editor of one setting: a check box for a bool, a spin box for a number.
Editor = QtWidgets.QCheckBox | QtWidgets.QSpinBox | QtWidgets.QDoubleSpinBox


def _spin_for(name: str, value: object) -> Editor | None:
    # Ranges by naming convention, so new smoothing fields get a sensible control for free.
    if isinstance(value, bool):
        box = QtWidgets.QCheckBox()
        box.setChecked(value)
        return box
    if isinstance(value, int):
        spin = QtWidgets.QSpinBox()
        spin.setRange(0, 10000) if name.endswith("_ms") else spin.setRange(1, 100)
        if name.endswith("_ms"):
            spin.setSingleStep(10)
            spin.setSuffix(" ms")
        spin.setValue(value)
        return spin
    if isinstance(value, float):
        w = QtWidgets.QDoubleSpinBox()
        if "threshold" in name or name.endswith("_ratio"):
            w.setRange(0.0, 1.0)
            w.setSingleStep(0.05)
            w.setDecimals(2)
        elif name.endswith("_ms"):
            w.setRange(0.0, 10000.0)
            w.setSingleStep(10.0)
            w.setDecimals(0)
            w.setSuffix(" ms")
        else:
            w.setRange(0.0, 1000.0)
            w.setDecimals(3)
        w.setValue(value)
        return w
    return None  # a type we cannot edit here stays as it is


# What each setting does, in plain words (the field names are the engine's).
TIPS = {
    "average_window_ms": "How much recent audio the scores are averaged over. Longer: steadier, fewer false "
                         "detections, but a word is reported a little later.",
    "detection_threshold": "How sure the app must be before it reports a word (0 to 1). Higher: fewer false "
                           "detections, but quiet or unclear words may be missed.",
    "suppression_ms": "After a detection, how long the app waits before it reports another word, so one spoken "
                      "word is not reported twice.",
    "minimum_count": "How many score updates the average needs before any word can be reported. Higher: "
                     "nothing is reported from a single loud moment.",
}


def field_label(name: str) -> str:
    """'average_window_ms' -> 'average window' (the box itself says 'ms')."""
    return (name[:-3] if name.endswith("_ms") else name).replace("_", " ")


def _read(w):
    if isinstance(w, QtWidgets.QCheckBox):
        return w.isChecked()
    return w.value()


class SmoothingPanel(QtWidgets.QDialog):
    """Edits every numeric field of the engine's smoothing dataclass; emits ``applied``."""

    applied = QtCore.pyqtSignal(object)
    actions_applied = QtCore.pyqtSignal(object, bool, str)  # word -> WordAction, close to tray, clips folder

    def __init__(self, cfg, parent=None, defaults=None, actions_tab=None):
        """``defaults``: what "Restore Defaults" loads (the model's tuned settings), else ``type(cfg)()``.
        ``actions_tab``: an ActionsTab, shown as a second tab; its sliders are part of ``value()``."""
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.actions_tab = actions_tab
        self._defaults = defaults if defaults is not None else type(cfg)()
        self._cfg = cfg
        self.editors: dict[str, Editor] = {}
        form = QtWidgets.QFormLayout()
        for f in dataclasses.fields(cfg):
            w = _spin_for(f.name, getattr(cfg, f.name))
            if w is None:
                continue
            self.editors[f.name] = w
            tip = TIPS.get(f.name, "")
            w.setToolTip(tip)
            label = QtWidgets.QLabel(field_label(f.name))
            label.setToolTip(tip)
            form.addRow(label, w)
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok | QtWidgets.QDialogButtonBox.StandardButton.Apply
            | QtWidgets.QDialogButtonBox.StandardButton.Cancel
            | QtWidgets.QDialogButtonBox.StandardButton.RestoreDefaults)
        buttons.accepted.connect(self._ok)
        buttons.rejected.connect(self.reject)
        buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Apply).clicked.connect(self.apply)
        buttons.button(QtWidgets.QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(
            self.restore_defaults)
        self.note = QtWidgets.QLabel("")
        self.note.setWordWrap(True)
        self.error = QtWidgets.QLabel("")
        self.error.setStyleSheet("color: #c03030;")
        self.error.setWordWrap(True)
        lay = QtWidgets.QVBoxLayout(self)
        if actions_tab is None:
            lay.addLayout(form)
        else:
            self.tabs = QtWidgets.QTabWidget()
            page = QtWidgets.QWidget()
            page_lay = QtWidgets.QVBoxLayout(page)
            page_lay.addLayout(form)
            page_lay.addStretch(1)
            self.tabs.addTab(page, "Detection")
            self.tabs.addTab(actions_tab, "Actions")
            lay.addWidget(self.tabs)
        lay.addWidget(self.note)
        lay.addWidget(self.error)
        lay.addWidget(buttons)

    def load(self, cfg) -> None:
        for name, w in self.editors.items():
            v = getattr(cfg, name)
            w.setChecked(v) if isinstance(w, QtWidgets.QCheckBox) else w.setValue(v)

    def restore_defaults(self) -> None:
        """Fills the fields only, so Cancel still keeps what is in use; the note says so."""
        self.load(self._defaults)
        if self.actions_tab is not None:
            self.actions_tab.restore_defaults()
        self.note.setText("Defaults filled in. Press Apply or OK to use them (Cancel keeps the current settings).")

    def value(self):
        """The edited settings; raises ValueError if the dataclass rejects the combination."""
        cfg = dataclasses.replace(self._cfg, **{n: _read(w) for n, w in self.editors.items()})
        return cfg if self.actions_tab is None else self.actions_tab.with_thresholds(cfg)

    def apply(self) -> bool:
        try:
            cfg = self.value()
        except (ValueError, TypeError) as e:
            self.error.setText(str(e))
            return False
        actions = None
        if self.actions_tab is not None:
            actions = self.actions_tab.check()
            if actions is None:  # a command that does not parse: nothing is applied, the tab says why
                self.tabs.setCurrentWidget(self.actions_tab)
                return False
        self.error.setText("")
        self.note.setText("")
        self._cfg = cfg
        self.applied.emit(cfg)
        if actions is not None:
            self.actions_applied.emit(actions, self.actions_tab.tray_check.isChecked(),
                                      self.actions_tab.clips_edit.text().strip())
        return True

    def _ok(self) -> None:
        if self.apply():
            self.accept()
