"""kws-train's export: every feature kind converts into a model.tflite that takes raw audio, and
the export's own check (LiteRT against TensorFlow) refuses a file that does not match."""
import os

import pytest

from kwsapp.core.errors import KwsError
from kwsapp.core.features import FeatureConfig
from kwstrain import export, models


@pytest.mark.parametrize("kind", ["logmel", "mfcc", "spectrogram"])
def test_every_feature_kind_exports_with_its_front_end(tmp_path, kind):
    cfg = FeatureConfig(kind=kind)
    model = models.build("stacked_fc", cfg.shape, 12)
    worst = export.write_tflite(model, cfg, str(tmp_path / "model.tflite"))
    assert worst["log_mel"] <= export.LOG_MEL_TOLERANCE and worst["scores"] <= export.SCORE_TOLERANCE


def test_an_export_that_differs_from_tensorflow_is_not_written(tmp_path, monkeypatch):
    cfg = FeatureConfig()
    model = models.build("stacked_fc", cfg.shape, 12)
    monkeypatch.setattr(export, "SCORE_TOLERANCE", -1.0)  # nothing can pass
    with pytest.raises(KwsError, match="differs from TensorFlow.*not written"):
        export.write_tflite(model, cfg, str(tmp_path / "model.tflite"))
    assert os.listdir(tmp_path) == []
