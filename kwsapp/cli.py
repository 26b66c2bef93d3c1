"""``kwsapp``: the desktop app (no subcommand) and its headless tools.

  kwsapp [--input FILE.wav | --device NAME_OR_INDEX] [--model DIR] [--verifier [DIR]]   open the window
  kwsapp listen ...    print detected commands (microphone or WAV file)
  kwsapp devices       list audio input devices
  kwsapp bench         measure feature, model and hop times on this machine
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from . import __version__
from .cli_options import add_verifier_arg
from .cli_util import RawDescriptionHelpFormatter, parser_class, run_main
from .core.model import BUNDLED_MODEL_DIR


def _lazy(module: str, func: str):
    # Subcommands import their (heavy) modules only when run: `kwsapp --help` stays instant.
    def call(args):
        return getattr(importlib.import_module(module), func)(args)

    return call


def add_model_arg(p):
    p.add_argument("--model", default=BUNDLED_MODEL_DIR, metavar="DIR",
                   help="model folder (default: the bundled model, assets/model)")


def add_source_args(p):
    g = p.add_mutually_exclusive_group()
    g.add_argument("--input", metavar="FILE.wav", help="read this WAV file instead of a microphone")
    g.add_argument("--device", metavar="NAME_OR_INDEX",
                   help="input device index or (part of its) name (default: the system's default input)")


def build_parser() -> argparse.ArgumentParser:
    ap = parser_class(prog="kwsapp", description=__doc__, formatter_class=RawDescriptionHelpFormatter)
    ap.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_source_args(ap)
    add_model_arg(ap)
    add_verifier_arg(ap)
    ap.set_defaults(func=_lazy("kwsapp.gui.app", "run"))
    # argparse only calls parser_class (a factory here); typeshed asks for a class.
    sub = ap.add_subparsers(dest="cmd", metavar="COMMAND", parser_class=parser_class)  # type: ignore[call-overload]

    for mod in _PLUGINS:
        if importlib.util.find_spec(f"kwsapp.{mod}") is not None:
            importlib.import_module(f"kwsapp.{mod}").add_parser(sub, add_source_args, add_model_arg)
    return ap


# Subcommand modules, each with add_parser(sub, add_source_args, add_model_arg) setting
# func (use _lazy-style imports inside so --help stays fast).
_PLUGINS = ("listen", "bench")


def main(argv=None) -> int:
    return run_main(build_parser, argv, prog="kwsapp")


if __name__ == "__main__":
    sys.exit(main())
