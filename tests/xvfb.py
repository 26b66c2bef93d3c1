"""A private virtual X screen for tests and scripts that run the real app (GUI tests under Xvfb,
scripts/screenshot.py). ``-displayfd`` makes Xvfb pick a free display number itself, so runs
never collide with each other or with a developer's own display."""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess


@contextlib.contextmanager
def virtual_display(size: tuple[int, int]):
    """Start Xvfb with one ``size`` (width, height) 24-bit screen; yields its DISPLAY (":N")."""
    exe = shutil.which("Xvfb")
    if exe is None:
        raise RuntimeError("Xvfb is not installed: run `make setup-test` (installs xvfb and imagemagick)")
    read, write = os.pipe()
    proc = subprocess.Popen([exe, "-displayfd", str(write), "-screen", "0", f"{size[0]}x{size[1]}x24",
                             "-nolisten", "tcp"], pass_fds=(write,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        with os.fdopen(read) as f:
            number = f.readline().strip()
        if not number.isdigit():
            raise RuntimeError("Xvfb did not start")
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(5)
