"""What both command lines share: help format, one-line errors, exit statuses, clean Ctrl-C, --json output."""
from __future__ import annotations

import argparse
import contextlib
import json
import sys

from .core.errors import KwsError, UsageError
from .core.tfquiet import quiet_tensorflow, require_tensorflow


class HelpFormatter(argparse.HelpFormatter):
    """Help for both programs: every option with a real default shows it (unless its text already says "default"); no reStructuredText markup.
    Descriptions come from module docstrings, written ``like this`` for the source reader; a
    terminal should show plain words, so the markup is dropped here, where it is shown."""

    def _get_help_string(self, action):
        text = (action.help or "").replace("``", "")
        if (action.option_strings and "default" not in text and "%(default)" not in text
                and action.default not in (None, False, argparse.SUPPRESS)):
            text += " (default: %(default)s)"
        return text

    def _format_text(self, text):
        return super()._format_text(text.replace("``", ""))


class RawDescriptionHelpFormatter(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """HelpFormatter for a description laid out by hand (kwsapp's list of commands)."""


def parser_class(**kwargs) -> argparse.ArgumentParser:
    """An ArgumentParser with HelpFormatter, for the programs and (through add_subparsers'
    parser_class) every subcommand, plugins included, without each having to ask for it."""
    kwargs.setdefault("formatter_class", HelpFormatter)
    return argparse.ArgumentParser(**kwargs)


# Exit statuses of both programs (documented in the README's command-line section).
EXIT_FAILURE = 1  # a runtime error: missing model, unreadable audio, device failure, network ...
EXIT_USAGE = 2  # a usage error: argparse's own, and option values rejected after parsing
EXIT_INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as shells report it


@contextlib.contextmanager
def stdout_only_json(enabled: bool):
    """For a command's --json: inside the block everything printed (our human lines, Keras
    progress bars) goes to stderr, and the function it yields writes one JSON object per line to
    the real stdout, so `kws-train evaluate --json | jq` always parses. Without --json, stdout
    stays as it is (the yielded function still writes there)."""
    out = sys.stdout

    def emit(obj) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    if not enabled:
        yield emit
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield emit


def run_main(build_parser, argv, prog: str) -> int:
    """Parse and run one command. Commands whose parser sets ``needs_tensorflow`` get TensorFlow
    imported first (quietly; a one-line error when the extra is missing); the others never load
    it: `kwsapp devices` and `listen` start in well under a second."""
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
