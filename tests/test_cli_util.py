"""Parking TensorFlow's C++ start-up chatter on fd 2 without losing real errors."""
import os
import threading

import pytest

from kwsapp.core.tfquiet import parked_stderr


def test_parked_stderr_hides_output_and_replays_it_on_failure(capfd):
    with parked_stderr():
        os.write(2, b"oneDNN chatter\n")
    assert "chatter" not in capfd.readouterr().err
    with pytest.raises(RuntimeError):
        with parked_stderr():
            os.write(2, b"why the import failed\n")
            raise RuntimeError("boom")
    assert "why the import failed" in capfd.readouterr().err


def test_parked_stderr_from_several_threads_restores_fd_2(capfd):
    def work():
        for _ in range(30):
            with parked_stderr():
                os.write(2, b"x")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    os.write(2, b"still here\n")
    err = capfd.readouterr().err
    assert "still here" in err and "x" not in err.replace("still here", "")
