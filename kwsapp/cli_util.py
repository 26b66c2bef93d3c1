"""What both command lines share: quiet TensorFlow, one-line errors, clean Ctrl-C."""
from __future__ import annotations

import contextlib
import os
import sys
import threading


def quiet_tensorflow() -> None:
    # TF's C++ start-up chatter (CUDA probes, oneDNN notes) buries our output.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "2")


_STDERR_LOCK = threading.RLock()


@contextlib.contextmanager
def parked_stderr():
    """Send file descriptor 2 to a temporary file for the block; replay it if the block fails.

    TensorFlow's and LiteRT's C++ start-up lines (oneDNN notes, CUDA probes on machines
    without a GPU, "Created TensorFlow Lite XNNPACK delegate") are written before absl
    logging is initialised, so no environment variable hides them.
    """
    import tempfile

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


def require_tensorflow(what: str):
    """TensorFlow (imported quietly) for ``what``, or a one-line KwsError naming the extra to
    install: it is optional, needed only to train and for the keras backend."""
    import importlib.util

    from .errors import TRAIN_EXTRA_HINT, KwsError

    if importlib.util.find_spec("tensorflow") is None:
        raise KwsError(f"{what} needs TensorFlow, which is not installed: {TRAIN_EXTRA_HINT}")
    quiet_tensorflow()
    import_tensorflow_quietly()
    import tensorflow as tf

    return tf


# Exit statuses of both programs (documented in the README's command-line section).
EXIT_FAILURE = 1  # a runtime error: missing model, unreadable audio, device failure, network ...
EXIT_USAGE = 2  # a usage error: argparse's own, and option values rejected after parsing
EXIT_INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as shells report it


def run_main(build_parser, argv, prog: str) -> int:
    """Parse and run one command. Commands whose parser sets ``needs_tensorflow`` get TensorFlow
    imported first (quietly; a one-line error when the extra is missing); the others never load
    it: `kwsapp devices` and `listen` start in well under a second."""
    from .errors import KwsError, UsageError

    quiet_tensorflow()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "needs_tensorflow", False):
            require_tensorflow(f"{prog} {getattr(args, 'cmd', '') or ''}".strip())
        return int(args.func(args) or 0)
    except KwsError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        # The usual convention (and argparse's): 2 means "fix the command line", 1 "it failed".
        return EXIT_USAGE if isinstance(e, UsageError) else EXIT_FAILURE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `kwsapp listen ... | head` closed the pipe: not an error
        return 0
