"""SIGTERM (a service manager, `kill`, the window cancelling a fine-tune) stops a command the way
Ctrl-C does: as a KeyboardInterrupt, so its cleanup runs (the engine and the stream stopped, a
half-written model folder removed) instead of the process being cut off."""
from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import NoReturn


def interrupt_on_signal(signum: int, frame: FrameType | None) -> NoReturn:
    """A signal handler that raises KeyboardInterrupt where the main thread is."""
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """Inside the block SIGTERM raises KeyboardInterrupt; the previous handler is back after it.
    Off the main thread, where handlers cannot be set, it changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt_on_signal)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
