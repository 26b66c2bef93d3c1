"""kwstrain/modelfolder.py: the one writer of model folders, each file renamed into place."""
import json
import os

import pytest

from kwsapp.core.model import ModelConfig, read_config
from kwstrain import modelfolder


def test_an_interrupted_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    d = str(tmp_path)
    modelfolder.write_json(d, modelfolder.METRICS, {"old": 1})

    def interrupted(tmp):
        with open(tmp, "w") as f:
            f.write('{"new": ')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        modelfolder._replace_into(os.path.join(d, modelfolder.METRICS), interrupted)
    assert json.load(open(os.path.join(d, modelfolder.METRICS))) == {"old": 1}
    assert os.listdir(d) == [modelfolder.METRICS]


def test_config_written_is_the_config_read_and_smoothing_updates_it(tmp_path):
    d = str(tmp_path / "m")
    cfg = ModelConfig(labels=("_silence_", "_unknown_", "yes", "no"))
    modelfolder.write_config(d, cfg)
    assert read_config(d) == cfg
    modelfolder.save_smoothing(d, 0.7, 500.0, {"yes": 0.8})
    got = read_config(d)
    assert (got.detection_threshold, got.average_window_ms, got.word_thresholds) == (0.7, 500.0, (("yes", 0.8),))
    assert sorted(os.listdir(d)) == [modelfolder.CONFIG]


def test_history_csv_has_a_row_per_epoch(tmp_path):
    modelfolder.write_history_csv(str(tmp_path), {"loss": [1.0, 0.5], "val_loss": [1.1]})
    assert open(tmp_path / modelfolder.HISTORY_CSV).read().splitlines() == ["epoch,loss,val_loss", "0,1.0,1.1", "1,0.5,"]


def test_best_epoch_checkpoint_saves_only_improvements_and_an_interrupted_save_keeps_the_last(tmp_path):
    import keras

    d = str(tmp_path)
    saved = []

    class Model:  # a stand-in that records each save; Keras picks the format by the file's extension
        fail = False

        def save(self, path):
            assert path.endswith(".keras") and os.path.dirname(path) == d
            open(path, "w").write(f"epoch {len(saved)}")
            if self.fail:
                raise KeyboardInterrupt
            saved.append(path)

    best, _csv = modelfolder.training_callbacks(keras, d, best=0.5, append=False)
    best.set_model(Model())
    for epoch, acc in enumerate([0.4, 0.6, 0.6, 0.7, 0.65]):  # 0.4 is below the run's best before resuming
        best.on_epoch_end(epoch, {"val_accuracy": acc})
    assert len(saved) == 2  # 0.6 and 0.7: strictly better only
    keras_file = os.path.join(d, modelfolder.KERAS)
    assert open(keras_file).read() == "epoch 1"
    best.model.fail = True
    with pytest.raises(KeyboardInterrupt):
        best.on_epoch_end(5, {"val_accuracy": 0.9})
    assert open(keras_file).read() == "epoch 1"  # the last good checkpoint, whole
    assert sorted(os.listdir(d)) == [modelfolder.KERAS]  # no temporary left behind (history.csv opens on train)
