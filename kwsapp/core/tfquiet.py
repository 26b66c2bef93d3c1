"""TensorFlow and LiteRT without their start-up chatter, and TensorFlow only where it is installed.

The core reads model folders with these (LiteRT, the keras backend) and both command lines use
them, so they live here, below kwsapp.cli_util."""
from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

from .errors import TRAIN_EXTRA_HINT, KwsError


def quiet_tensorflow() -> None:
    # TF's C++ start-up chatter (CUDA probes, oneDNN notes) buries our output.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "2")


_STDERR_LOCK = threading.RLock()


@contextlib.contextmanager
def parked_stderr() -> Iterator[None]:
    """Send file descriptor 2 to a temporary file for the block; replay it if the block fails.

    TensorFlow's and LiteRT's C++ start-up lines (oneDNN notes, CUDA probes on machines
    without a GPU, "Created TensorFlow Lite XNNPACK delegate") are written before absl
    logging is initialised, so no environment variable hides them.
    """
    sys.stderr.flush()
    # fd 2 is process-wide: two threads swapping it at once could leave it on a dead file.
    with _STDERR_LOCK, tempfile.TemporaryFile(mode="w+b") as tmp:
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            tmp.seek(0)
            sys.stderr.write(tmp.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and probe its devices without its start-up chatter."""
    with parked_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")


def require_tensorflow(what: str) -> Any:  # the tensorflow module (untyped)
    """TensorFlow (imported quietly) for ``what``, or a one-line KwsError naming the extra to
    install: it is optional, needed only to train and for the keras backend."""
    if importlib.util.find_spec("tensorflow") is None:
        raise KwsError(f"{what} needs TensorFlow, which is not installed: {TRAIN_EXTRA_HINT}")
    quiet_tensorflow()
    import_tensorflow_quietly()
    import tensorflow as tf

    return tf
