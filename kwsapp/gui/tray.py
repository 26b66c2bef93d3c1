"""The system-tray icon: the last detection in its tooltip, Show and Quit in its menu, and
the desktop notifications of the words that ask for one.

Made only where the desktop has a tray (QSystemTrayIcon.isSystemTrayAvailable()): elsewhere
a window closed "to the tray" could never be found again, so closing just closes.
"""
from __future__ import annotations

import time

from PyQt6 import QtCore, QtGui, QtWidgets


def _icon(widget) -> QtGui.QIcon:
    # The app has no icon file of its own; a tray entry with a null icon is invisible on most
    # desktops, so fall back to the style's speaker.
    icon = widget.windowIcon()
    if icon.isNull():
        icon = widget.style().standardIcon(QtWidgets.QStyle.StandardPixmap.SP_MediaVolume)
    return icon


class Tray(QtCore.QObject):
    show_requested = QtCore.pyqtSignal()
    quit_requested = QtCore.pyqtSignal()

    def __init__(self, window: QtWidgets.QWidget):
        super().__init__(window)
        self.icon = QtWidgets.QSystemTrayIcon(_icon(window), self)
        self.menu = QtWidgets.QMenu()  # no parent: a menu owned by a hidden window may not pop up
        self.show_action = self.menu.addAction("Show kwsapp", self.show_requested.emit)
        self.menu.addSeparator()
        self.quit_action = self.menu.addAction("Quit", self.quit_requested.emit)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.icon.setToolTip("kwsapp — nothing heard yet")
        self.icon.show()

    @staticmethod
    def available() -> bool:
        return QtWidgets.QSystemTrayIcon.isSystemTrayAvailable()

    def _activated(self, reason) -> None:
        if reason == QtWidgets.QSystemTrayIcon.ActivationReason.Trigger:  # a plain click shows the window
            self.show_requested.emit()

    def show_detection(self, label: str, score: float) -> None:
        self.icon.setToolTip(f"kwsapp — last heard: {label} ({score:.2f}) at {time.strftime('%H:%M:%S')}")

    def notify(self, title: str, text: str) -> None:
        """A desktop notification (a word's "notify" in Settings → Actions). Shown where the
        desktop supports them; Qt draws its own balloon where it does not."""
        self.icon.showMessage(title, text, QtWidgets.QSystemTrayIcon.MessageIcon.Information, 3000)

    @property
    def tooltip(self) -> str:
        return self.icon.toolTip()

    def say_hidden(self) -> None:
        """Once per run: tell the user where the window went, since listening goes on."""
        if not getattr(self, "_told", False) and self.icon.supportsMessages():
            self._told = True
            self.icon.showMessage("kwsapp keeps listening", "It is in the tray: click to show it, "
                                  "or Quit from its menu.", QtWidgets.QSystemTrayIcon.MessageIcon.Information, 4000)

    def remove(self) -> None:
        if getattr(self, "_removed", False):  # closing twice (Quit, then the app's teardown)
            return
        self._removed = True
        self.icon.hide()
        self.menu.deleteLater()
