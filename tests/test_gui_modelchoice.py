"""ModelChoice: a folder is taken when its config reads, and the one that worked is kept until its weights load."""
import os

from conftest import copy_model

from kwsapp.core.errors import ModelError
from kwsapp.gui.listening.modelchoice import ModelChoice


def test_a_folder_without_a_config_is_refused_and_the_model_in_use_kept(tmp_path, model_dir):
    m = ModelChoice(model_dir)
    assert m.config is not None and m.problem is None
    said = m.choose(str(tmp_path))
    assert said.startswith(f"no model in {tmp_path}") and said.endswith("still using bundled")
    assert m.folder == model_dir and m.config is not None


def test_starting_without_a_usable_model_says_why_once_shown(tmp_path):
    m = ModelChoice(str(tmp_path))
    assert m.config is None and m.problem.startswith(f"no model in {tmp_path}")
    assert "still using" not in m.choose(str(tmp_path / "nothing"))  # there is nothing to keep


def test_weights_that_fail_to_load_go_back_to_the_model_that_worked(tmp_path, model_dir):
    other = copy_model(model_dir, str(tmp_path / "mine"))
    m = ModelChoice(model_dir)
    assert m.choose(other) is None and m.folder == other
    said, went_back = m.weights_failed(ModelError("model.tflite is not a model"))
    assert went_back and m.folder == model_dir and m.config is not None
    assert said.startswith(f"no model in {other}") and "still using bundled" in said
    # Nothing to go back to twice: a second failure stays on the folder it has.
    said, went_back = m.weights_failed(ModelError("model.tflite is not a model"))
    assert not went_back and m.folder == model_dir


def test_once_the_engine_has_loaded_it_there_is_nothing_to_go_back_to(tmp_path, model_dir):
    other = copy_model(model_dir, str(tmp_path / "mine"))
    m = ModelChoice(model_dir)
    m.choose(other)
    m.loaded()
    said, went_back = m.weights_failed(ModelError("model.tflite is not a model"))
    assert not went_back and m.folder == other and os.path.basename(other) in said


def test_choosing_the_same_folder_again_keeps_no_previous(model_dir):
    m = ModelChoice(model_dir)
    assert m.choose(model_dir) is None
    assert m.weights_failed(ModelError("broken"))[1] is False
