"""Python's cycle collector runs in the GUI thread only, while a main window is open.

Left automatic, a collection starts in whichever thread allocates: the audio callback, the
engine's worker or a model-loading starter. A cycle that holds a Qt object is then deleted from
that thread while the GUI thread paints it (seen in the test suite: pyqtgraph's AxisItem deleted
inside its own paint, then a segmentation fault). pyqtgraph's GarbageCollector collects from a
timer in the GUI thread instead; closing the last window gives automatic collection back.
"""
from __future__ import annotations

import gc

_holders: set = set()
_collector = None
_was_enabled = True


def hold(key) -> None:
    """GUI thread: collect only from the GUI thread until :func:`release` of ``key``."""
    global _collector, _was_enabled
    if _collector is None:
        from pyqtgraph.util.garbage_collector import GarbageCollector

        _was_enabled = gc.isenabled()
        _collector = GarbageCollector(interval=1.0)  # disables automatic collection
    _holders.add(key)


def release(key) -> None:
    """GUI thread: ``key``'s holder is done (again is fine); the last one puts automatic collection back."""
    global _collector
    _holders.discard(key)
    if _holders or _collector is None:
        return
    _collector.timer.stop()
    _collector = None
    gc.collect()  # what piled up since the last tick, while still in the GUI thread
    if _was_enabled:
        gc.enable()


def active() -> bool:
    return _collector is not None
