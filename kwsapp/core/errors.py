"""User-facing errors: each carries one line that names the problem and what to do."""


class KwsError(Exception):
    """An error the user can act on; the CLIs print it as one line, never a traceback."""


class UsageError(KwsError):
    """Options that do not make sense (a value out of range, two that exclude each other) found
    after argparse: the CLIs exit 2 for it, as argparse does, and 1 for every other KwsError
    (the command line was right, the world was not: missing model, bad audio, no device)."""


class AudioFileError(KwsError):
    """A WAV file that cannot be used (missing, corrupt, empty, NaN ...)."""


class ModelError(KwsError):
    """A model folder that is missing, incomplete or inconsistent."""


class DeviceError(KwsError):
    """No input device, or one that cannot be opened or has gone away."""


REBUILD_HINT = "rebuild it with `make model` (see assets/model/README.md)"
# TensorFlow is optional: training and the keras backend need it, the app and `listen` do not.
TRAIN_EXTRA_HINT = "pip install 'kwsapp[train]'"
