"""kwsapp/core/sigterm.py: SIGTERM stops a command like Ctrl-C (listen, kws-train finetune)."""
import os
import signal
import threading
import time

import pytest

from kwsapp.core.sigterm import sigterm_as_ctrl_c


def test_sigterm_raises_keyboard_interrupt_inside_the_block_only():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), sigterm_as_ctrl_c():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # interrupted at once: the handler runs on the main thread
    assert signal.getsignal(signal.SIGTERM) is before


def test_off_the_main_thread_it_changes_nothing():
    before, errors = signal.getsignal(signal.SIGTERM), []

    def run():
        try:
            with sigterm_as_ctrl_c():
                errors.append(signal.getsignal(signal.SIGTERM) is before)
        except Exception as e:  # signal.signal off the main thread would raise ValueError
            errors.append(e)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert errors == [True]
