"""Reading the Speech Commands layouts: labels, splits, speakers."""
import math
import os
import shutil
from collections import Counter

import pytest

from kwsapp.core.errors import KwsError
from kwstrain import dataset as D
from tests.conftest import make_tiny_dataset


def _speakers(spec, split):
    return {c.speaker for c in spec.split(split) if c.path and c.label != D.SILENCE}


def test_shared_lists_give_speaker_disjoint_splits(data_dir):
    spec = D.scan(data_dir)
    tr, va, te = (_speakers(spec, s) for s in D.SPLITS)
    assert tr and va and te
    assert not (tr & va) and not (tr & te) and not (va & te)
    with open(os.path.join(data_dir, "testing_list.txt")) as f:
        listed = {l.strip() for l in f if l.strip()}
    in_test = {os.path.relpath(c.path, data_dir) for c in spec.split("testing") if c.path and c.label != D.SILENCE}
    assert in_test == listed  # every listed test clip, and nothing else


def test_hash_rule_without_lists_keeps_speakers_in_one_split(tmp_path):
    root = make_tiny_dataset(str(tmp_path / "d"), speakers=30, lists=False)
    spec = D.scan(root, unknown_share=1.0)
    sets = [_speakers(spec, s) for s in D.SPLITS]
    assert all(sets), "30 speakers should reach every split"
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    for c in spec.clips:
        if c.path:
            assert c.split == D.which_set(c.path)


def _tf_example_which_set(filename, validation_percentage, testing_percentage):
    """tensorflow/examples/speech_commands/input_data.py's which_set, verbatim in substance."""
    import hashlib
    import re

    base_name = os.path.basename(filename)
    hash_name = re.sub(r"_nohash_.*$", "", base_name)
    hash_name_hashed = hashlib.sha1(hash_name.encode()).hexdigest()
    percentage_hash = (int(hash_name_hashed, 16) % (2**27 - 1 + 1)) * (100.0 / (2**27 - 1))
    if percentage_hash < validation_percentage:
        return "validation"
    elif percentage_hash < (testing_percentage + validation_percentage):
        return "testing"
    return "training"


def test_which_set_matches_the_tf_example():
    for i in range(0, 200000, 997):
        name = f"{i * 2654435761 % 2**32:08x}_nohash_{i % 3}.wav"
        assert D.which_set(name, 10, 10) == _tf_example_which_set(name, 10, 10)
        assert D.which_set(name, 20, 5) == _tf_example_which_set(name, 20, 5)
    assert D.which_set("yes/0a7c2a8d_nohash_0.wav") == D.which_set("no/0a7c2a8d_nohash_3.wav")
    names = [f"{i:08x}_nohash_0.wav" for i in range(0, 4000, 7)]
    shares = {s: sum(D.which_set(n) == s for n in names) / len(names) for s in D.SPLITS}
    assert 0.07 < shares["validation"] < 0.13 and 0.07 < shares["testing"] < 0.13


def test_labels_order_unknown_and_silence(data_dir):
    spec = D.scan(data_dir, unknown_share=0.1, silence_share=0.1)
    assert spec.labels == ("_silence_", "_unknown_", "yes", "no", "up", "down", "left", "right", "on", "off",
                           "stop", "go")
    train = spec.split("training")
    n_known = sum(c.label in D.COMMANDS for c in train)
    n_unknown = sum(c.label == D.UNKNOWN for c in train)
    n_silence = sum(c.label == D.SILENCE for c in train)
    assert n_unknown == -(-n_known // 10)
    assert n_silence == -(-n_known // 10)
    assert all(c.word not in D.COMMANDS for c in train if c.label == D.UNKNOWN)
    # real _silence_ clips are used first; noise-cut silence (path None) only fills up
    assert any(c.path and c.label == D.SILENCE for c in train)


def test_unknown_share_is_configurable(data_dir):
    a = D.scan(data_dir, unknown_share=0.05)
    b = D.scan(data_dir, unknown_share=0.15)
    count = lambda s: sum(c.label == D.UNKNOWN for c in s.split("training"))  # noqa: E731
    assert count(a) < count(b)


def test_repeat_unknown_reaches_the_share_with_the_same_clips(data_dir):
    def unknown(s):
        return [c.path for c in s.split("training") if c.label == D.UNKNOWN]

    def n_known(s):
        return sum(c.label not in (D.UNKNOWN, D.SILENCE) for c in s.split("training"))

    capped = D.scan(data_dir, unknown_share=0.5)
    filled = D.scan(data_dir, unknown_share=0.5, repeat_unknown=True)
    assert len(unknown(capped)) < 0.5 * n_known(capped)  # this subset has too few other words
    assert len(unknown(filled)) == math.ceil(0.5 * n_known(filled))
    assert set(unknown(filled)) == set(unknown(capped))  # every clip, some twice, nothing new
    counts = Counter(unknown(filled))
    assert max(counts.values()) - min(counts.values()) <= 1  # repeated evenly
    # Where there are enough, nothing is repeated.
    few = D.scan(data_dir, unknown_share=0.05, repeat_unknown=True)
    assert unknown(few) == unknown(D.scan(data_dir, unknown_share=0.05))


def test_test_set_layout(tmp_path, data_dir):
    root = tmp_path / "ts"
    for label, src in (("yes", "yes"), ("_unknown_", "bed"), ("_silence_", "_silence_")):
        os.makedirs(root / label)
        for n in sorted(os.listdir(os.path.join(data_dir, src)))[:3]:
            shutil.copy(os.path.join(data_dir, src, n), root / label / n)
    spec = D.scan(str(root))
    assert spec.layout == "test-set"
    assert {c.split for c in spec.clips} == {"testing"}
    assert sorted({c.label for c in spec.clips}) == ["_silence_", "_unknown_", "yes"]


def test_extra_data_goes_to_training_only(tmp_path):
    base = make_tiny_dataset(str(tmp_path / "base"))
    extra = make_tiny_dataset(str(tmp_path / "extra"), speakers=3, seed=5)
    spec = D.scan(base)
    before = {s: len(spec.split(s)) for s in D.SPLITS}
    added = D.add_extra_training_data(spec, extra)
    assert added > 0
    assert len(spec.split("training")) == before["training"] + added
    assert len(spec.split("validation")) == before["validation"]
    assert len(spec.split("testing")) == before["testing"]


@pytest.mark.parametrize("setup,words", [("missing", "no such data folder"), ("empty", "no clips of the command")])
def test_bad_folders_give_clear_errors(tmp_path, setup, words):
    root = tmp_path / "data"
    if setup == "empty":
        root.mkdir()
        (root / "yes").mkdir()
    with pytest.raises(KwsError, match=words):
        D.scan(str(root))
