"""What each command loads: the app's commands never import TensorFlow (it is the optional
train extra); the trainer's do. Each case runs in a fresh interpreter (this one has TF loaded)."""
import subprocess
import sys

import pytest
from conftest import ROOT

from kwsapp import __version__

PROBE = """
import sys
from {module} import main
code = main(sys.argv[1:])
print("TF" if "tensorflow" in sys.modules else "no TF", code)
"""


def _run(module, *args):
    r = subprocess.run([sys.executable, "-c", PROBE.format(module=module), *args], cwd=ROOT,
                       capture_output=True, text=True, timeout=180)
    return r.stdout.strip().splitlines()[-1], r


@pytest.mark.parametrize("args", [["devices"], ["listen", "--input", "CLIP"]])
def test_app_commands_do_not_import_tensorflow(args, data_dir):
    from kwstrain.streamtest import pick_clips

    (_, clip), = pick_clips(data_dir, "testing", words=("go",))
    last, r = _run("kwsapp.cli", *[clip if a == "CLIP" else a for a in args])
    assert last == "no TF 0", r.stderr


def test_keras_backend_and_the_trainer_do_import_it(data_dir):
    from kwstrain.streamtest import pick_clips

    (_, clip), = pick_clips(data_dir, "testing", words=("go",))
    assert _run("kwsapp.cli", "listen", "--input", clip, "--backend", "keras")[0] == "TF 0"
    assert _run("kwstrain.cli", "export", "--model", "no/such/model")[0] == "TF 1"  # a missing model: a runtime error


def test_version():
    r = subprocess.run([sys.executable, "-m", "kwsapp", "--version"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == f"kwsapp {__version__}\n"


WINDOW_PROBE = """
import os, sys
from kwsapp import engine as E
real = E.Engine._emit
def first_hop(self, hop):  # the window is up and its engine has scored a window
    print("TF" if "tensorflow" in sys.modules else "no TF", flush=True)
    os._exit(0)
E.Engine._emit = first_hop
from kwsapp.cli import main
main(sys.argv[1:])
"""


def test_the_window_runs_without_importing_tensorflow(tmp_path, data_dir):
    import os

    from kwstrain.streamtest import pick_clips

    (_, clip), = pick_clips(data_dir, "testing", words=("go",))
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", KWSAPP_SETTINGS=str(tmp_path / "settings.ini"))
    r = subprocess.run([sys.executable, "-c", WINDOW_PROBE, "--input", clip], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=180)
    assert r.stdout.strip() == "no TF", r.stderr[-2000:]
