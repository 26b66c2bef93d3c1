"""What both command lines share: quiet TensorFlow, one-line errors, clean Ctrl-C."""
from __future__ import annotations

import os
import sys


def quiet_tensorflow() -> None:
    # TF's C++ start-up chatter (CUDA probes, oneDNN notes) buries our output.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "2")


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and probe its devices with stderr (fd 2) parked in a file.

    TF's C++ start-up lines (oneDNN notes, CUDA probes on machines without a GPU) are
    written before absl logging is initialised, so no environment variable hides them.
    They are shown only if the import itself fails.
    """
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")
        except BaseException:
            os.dup2(saved, 2)
            tmp.seek(0)
            sys.stderr.write(tmp.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def run_main(build_parser, argv, prog: str) -> int:
    from .errors import KwsError

    quiet_tensorflow()
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "needs_tensorflow", True):
        import_tensorflow_quietly()
    try:
        return int(args.func(args) or 0)
    except KwsError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `kwsapp listen ... | head` closed the pipe: not an error
        return 0
