"""The toolbar's input chooser: the devices as :func:`.devicelist.device_entries` lists them, the
file being played (if any) last, and the current source selected."""
from __future__ import annotations

import os

from PyQt6 import QtWidgets

from .devicelist import device_entries


class DeviceCombo(QtWidgets.QComboBox):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumWidth(200)
        self.setToolTip("Audio input device (switch any time)")

    def show_devices(self, devices, spec) -> None:
        """Refill with ``devices`` and select ``spec``'s source, without emitting ``activated``."""
        self.blockSignals(True)
        try:
            self.clear()
            for entry in device_entries(devices):
                if entry is None:
                    self.insertSeparator(self.count())
                else:
                    self.addItem(*entry)
            if spec.kind == "file" and spec.path is not None:  # a file spec has its path
                self.addItem(f"File: {os.path.basename(spec.path)}", ("file", spec.path))
                self.setCurrentIndex(self.count() - 1)
            elif spec.device is not None:
                self.setCurrentIndex(max(self._find(spec.device), 0))
        finally:
            self.blockSignals(False)

    def _find(self, device) -> int:
        i = self.findData(device)
        if i < 0 and isinstance(device, str):  # a name given in part (kwsapp --device usb)
            i = next((k for k in range(1, self.count()) if device.lower() in self.itemText(k).lower()), -1)
        return i
