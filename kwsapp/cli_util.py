"""What both command lines share: quiet TensorFlow, one-line errors, clean Ctrl-C."""
from __future__ import annotations

import os
import sys


def quiet_tensorflow() -> None:
    # TF's C++ start-up chatter (CUDA probes, oneDNN notes) buries our output.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "2")


def run_main(build_parser, argv, prog: str) -> int:
    from .errors import KwsError

    quiet_tensorflow()
    parser = build_parser()
    args = parser.parse_args(argv)
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
