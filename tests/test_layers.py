"""The layers, checked on every import statement (module level and inside functions):

- ``kwsapp.core`` (features, model folders, detector, smoothing, verifier, vocabulary, WAV files)
  imports no Qt, argparse, sounddevice, trainer, nor any kwsapp module outside the core;
- nothing in kwsapp imports the trainer (the GUI runs it as a separate process);
- the trainer uses the core, and of the app only the command-line helpers both programs share;
- the command-line entry modules are libraries to nobody.

Parsed with ``ast``, so a wrong arrow fails here without importing anything.
``python tests/test_layers.py`` lists every import (F: inside a function) to see the arrows.
"""
from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("kwsapp", "kwstrain")

CORE = "kwsapp.core"
NOT_IN_CORE = ("PyQt6", "pyqtgraph", "argparse", "sounddevice", "kwstrain")
# The trainer's command line must parse, explain and fail like kwsapp's (same smoothing and
# --verifier options, help format, exit statuses, --json discipline): those two modules are argparse
# by nature, so they cannot sink into the core.
TRAINER_MAY_USE = ("kwsapp.cli_util", "kwsapp.cli_options")
# Imported only to be run (kwsapp.cli finds its subcommands by name, through importlib).
ENTRY_POINTS = {"kwsapp.cli": ("kwsapp.__main__",), "kwsapp.listen": (), "kwsapp.bench": ()}


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imported_names(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, module name) of every import in ``source``, wherever it stands (functions, classes,
    try blocks); relative imports resolved against ``module``; ``from X import y`` gives X.y when
    y is a module of this repository, else X."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                found.append((node.lineno, sub if _is_module(sub) else base))
    return found


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def wrong_arrows(module: str, imported: list[tuple[int, str]]) -> list[str]:
    """One line per import that breaks a layer rule."""
    bad = []
    for line, name in dict.fromkeys(imported):  # `from X import a, b` is one arrow
        why = None
        if _within(module, CORE):
            if any(_within(name, p) for p in NOT_IN_CORE):
                why = "the core must not import it"
            elif _within(name, "kwsapp") and name != "kwsapp" and not _within(name, CORE):
                why = "the core must not import the app"
        elif _within(module, "kwsapp") and _within(name, "kwstrain"):
            why = "kwsapp must not import the trainer"
        elif (_within(module, "kwstrain") and _within(name, "kwsapp") and name != "kwsapp"
              and not _within(name, CORE) and not any(_within(name, m) for m in TRAINER_MAY_USE)):
            why = f"the trainer uses the core (and only {', '.join(TRAINER_MAY_USE)} of the app)"
        if why is None and name in ENTRY_POINTS and module != name and module not in ENTRY_POINTS[name]:
            why = "a command-line module is no library: move what is shared into a module of its own"
        if why:
            bad.append(f"{module}:{line} imports {name}: {why}")
    return bad


def _modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield module_name(path), path


def test_every_import_respects_the_layers():
    bad = []
    for module, path in _modules():
        bad += wrong_arrows(module, imported_names(path.read_text(), module, path.name == "__init__.py"))
    assert not bad, "wrong arrows:\n" + "\n".join(bad)


def test_the_core_is_where_the_checks_look():
    # Renaming the core package would otherwise make the rules above vacuous.
    core = [m for m, _ in _modules() if _within(m, CORE)]
    assert {"kwsapp.core.features", "kwsapp.core.model", "kwsapp.core.detector", "kwsapp.core.smoothing"} <= set(core)


@pytest.mark.parametrize("module, source, offender", [
    ("kwsapp.core.features", "import numpy\nfrom PyQt6 import QtCore\n", "PyQt6"),
    ("kwsapp.core.model", "def f():\n    import argparse\n", "argparse"),
    ("kwsapp.core.detector", "class C:\n    def f(self):\n        from ..audio import mic\n", "kwsapp.audio.mic"),
    ("kwsapp.core.detector", "try:\n    from ..engine import Engine\nexcept ImportError:\n    pass\n", "kwsapp.engine"),
    ("kwsapp.core.smoothing", "import sounddevice as sd\n", "sounddevice"),
    ("kwsapp.core.wavio", "from kwstrain import dataset\n", "kwstrain.dataset"),
    ("kwsapp.gui.window", "def f():\n    from kwstrain.finetune import finetune\n", "kwstrain.finetune"),
    ("kwstrain.streamtest", "def f():\n    from kwsapp.listen import CLIP_S\n", "kwsapp.listen"),
    ("kwsapp.gui.app", "from ..listen import add_verifier_arg\n", "kwsapp.listen"),
])
def test_a_planted_wrong_import_is_caught(module, source, offender):
    bad = wrong_arrows(module, imported_names(source, module))
    assert len(bad) == 1 and f"imports {offender}:" in bad[0], bad


@pytest.mark.parametrize("module, source", [
    ("kwsapp.core.detector", "from .smoothing import Smoother\nfrom . import features\nimport numpy\n"),
    ("kwsapp.core.model", "from .. import __version__\n"),
    ("kwsapp.engine", "from .core.detector import Detector\nfrom .audio.sources import open_source\n"),
    ("kwstrain.cli", "from kwsapp.cli_util import run_main\nfrom kwsapp.cli_options import add_smoothing_args\n"),
    ("kwsapp.__main__", "from .cli import main\n"),
])
def test_right_arrows_pass(module, source):
    assert wrong_arrows(module, imported_names(source, module)) == []


if __name__ == "__main__":
    for module, path in _modules():
        tree = ast.parse(path.read_text())
        inner = {n.lineno for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                 for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
        for line, name in imported_names(path.read_text(), module, path.name == "__init__.py"):
            print(f"{module}\t{line}\t{'F' if line in inner else 'M'}\t{name}")
