"""Training beyond one process: two workers on this machine, resuming an interrupted run,
the input shards, and which devices --strategy mirrored picks."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from kwstrain.distributed import WORKER_DIR_PREFIX
from tests.conftest import ROOT, kept_model_val_loss, kws_train_here, make_tiny_dataset

# --ema too: the averaged weights must be validated, kept and resumed under the multi-worker
# strategy's own training loop as under model.fit.
RECIPE = ("--batch-size", "16", "--ema", "0.9", "--quiet")


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _train_cmd(data, out, *extra, epochs=12):
    return [sys.executable, "-m", "kwstrain", "train", "--data-dir", data, "--epochs", str(epochs), *RECIPE,
            "--out", out, *extra]


def _start_cluster(data, out, tmp_path, ports):
    """A chief and a worker on this machine (two localhost ports), each with its own TMPDIR."""
    cluster = {"chief": [f"localhost:{ports[0]}"], "worker": [f"localhost:{ports[1]}"]}
    procs = []
    for task in ("chief", "worker"):
        tmp = tmp_path / f"tmp-{task}"
        tmp.mkdir(exist_ok=True)
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": task, "index": 0}}),
                   TMPDIR=str(tmp))
        procs.append(subprocess.Popen(_train_cmd(data, out, "--strategy", "multi-worker"), cwd=ROOT,
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return procs


def _train_here(capsys, data, out, *extra):
    """The same command in this process, for errors found before training starts (no second
    Python and TensorFlow start-up)."""
    return kws_train_here(capsys, *_train_cmd(data, out, *extra)[3:])


def _wait_for_backup(out, proc):
    """The epochs the backup in ``out`` holds, once there is one (None if ``proc`` ended first)."""
    state = os.path.join(out, "backup", "state.npz")
    deadline = time.monotonic() + 600  # a generous bound, not a measurement
    while not os.path.exists(state) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if not os.path.exists(state):
        return None
    with np.load(state) as z:
        return json.loads(str(z["state"]))["epochs_done"]


def _info(out):
    return json.load(open(os.path.join(out, "train_info.json")))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_tiny_dataset(str(tmp_path_factory.mktemp("dist") / "data"))


@pytest.fixture(scope="module")
def resumed(data, tmp_path_factory):
    """One-process training killed after its first backup, then rerun to the end. It is also the
    one-process reference the two-worker run is compared with (the same command, so the same
    recipe), which saves a second twelve-epoch training."""
    out = str(tmp_path_factory.mktemp("resumed") / "model")
    state = os.path.join(out, "backup", "state.npz")
    p = subprocess.Popen(_train_cmd(data, out), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600  # a generous bound, not a measurement
    while not os.path.exists(state) and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    p.send_signal(signal.SIGKILL)  # no chance to clean up: the hardest interruption
    p.communicate()
    assert os.path.exists(state), "no backup after the first epoch"
    with np.load(state) as z:
        done = json.loads(str(z["state"]))["epochs_done"]
    r = subprocess.run(_train_cmd(data, out), cwd=ROOT, capture_output=True, text=True, timeout=900)
    return out, done, r


@pytest.fixture(scope="module")
def cluster(data, tmp_path_factory):
    """A chief and a worker training twelve epochs; the worker is killed after the first, which
    stops the chief; then both are started again and finish. One run serves the lost-worker
    message, the resume and the comparison with one process (a second cluster would cost a minute)."""
    tmp_path = tmp_path_factory.mktemp("cluster")
    out = str(tmp_path / "model")
    ports = _free_ports(2)
    procs = chief, worker = _start_cluster(data, out, tmp_path, ports)
    try:
        done = _wait_for_backup(out, chief)
        worker.send_signal(signal.SIGKILL)  # the machine is gone: no goodbye to the chief
        worker.communicate()
        try:  # TF's heartbeat timeout is 10 s: a generous bound, not a measurement
            _, lost_err = chief.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            chief.kill()  # its ports are needed again below
            chief.communicate()
            lost_err = "the chief still waited for the lost worker after 300 s"
        procs = _start_cluster(data, out, tmp_path, ports)
        results = [p.communicate(timeout=900) for p in procs]
    finally:  # a hung run must not outlive the tests
        for p in (chief, worker, *procs):
            if p.poll() is None:
                p.kill()
                p.communicate()
    return dict(tmp_path=tmp_path, out=out, done=done, lost_code=chief.returncode, lost_err=lost_err,
                codes=[p.returncode for p in procs], results=results)


def test_a_lost_worker_stops_the_chief_in_one_line(cluster):
    assert cluster["done"] == 1, cluster["lost_err"][-3000:]
    err = cluster["lost_err"]
    assert cluster["lost_code"] == 1 and "Traceback" not in err, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("kws-train: error: training stopped: a worker was lost (worker 0 "), last
    assert last.endswith("rerun the same command on every machine to resume from epoch 2 (1 of 12 epochs were done)")


def test_both_workers_resume_and_train_like_one_process(cluster, data, resumed):
    (chief_out, chief_err), (worker_out, worker_err) = cluster["results"]
    assert cluster["codes"] == [0, 0], (chief_err[-3000:], worker_err[-3000:])
    out, tmp_path = cluster["out"], cluster["tmp_path"]
    assert "1 of 12 epochs were done, training goes on from epoch 2" in chief_err
    assert "saved " + out in chief_out
    assert "the chief writes the model folder" in worker_out
    # The worker trained in a temporary folder and removed it, and the killed worker's folder went
    # too. What TensorFlow and Keras themselves put in TMPDIR (autograph files, the scratch folder
    # of a checkpoint save the kill interrupted) is theirs and may stay. No backup is left.
    left = os.listdir(tmp_path / "tmp-worker")
    assert [n for n in left if n.startswith(WORKER_DIR_PREFIX)] == [], left
    assert sorted(os.listdir(tmp_path)) == ["model", "tmp-chief", "tmp-worker"]
    assert not os.path.exists(os.path.join(out, "backup"))
    assert {"model.keras", "model.tflite", "metrics.json"} <= set(os.listdir(out))
    multi = _info(out)
    assert multi["info"]["replicas"] == 2 and multi["info"]["strategy"] == "multi-worker"
    assert multi["info"]["resumed_at_epochs"] == [1]

    single_out, _, r = resumed
    assert r.returncode == 0, r.stderr[-3000:]
    single = _info(single_out)
    assert {k: v for k, v in multi["info"]["config"].items() if k not in ("strategy", "out")} == \
        {k: v for k, v in single["info"]["config"].items() if k not in ("strategy", "out")}
    # Same recipe, same number of steps and global batch: the two learn alike (the tiny set
    # is learnt completely in 12 epochs by either; an untrained model scores ~0.1).
    m_test = json.load(open(os.path.join(out, "metrics.json")))["test"]["accuracy"]
    s_test = json.load(open(os.path.join(single_out, "metrics.json")))["test"]["accuracy"]
    assert m_test >= 0.75 and s_test >= 0.75, (m_test, s_test)
    assert abs(m_test - s_test) <= 0.25
    assert len(multi["history"]["loss"]) == len(single["history"]["loss"]) == 12
    assert multi["history"]["loss"][-1] < 0.6 * multi["history"]["loss"][0]
    # The kept checkpoint holds the averaged weights whose validation loss was logged.
    assert multi["info"]["config"]["ema"] == 0.9
    assert kept_model_val_loss(data, out) == pytest.approx(multi["history"]["val_loss"][multi["info"]["best_epoch"] - 1], rel=1e-3)


def test_killed_run_resumes_from_its_last_finished_epoch(resumed):
    out, done, r = resumed
    assert 1 <= done < 12
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"{done} of 12 epochs were done, training goes on from epoch {done + 1}" in r.stderr
    info = _info(out)
    assert info["info"]["resumed_at_epochs"] == [done]
    assert len(info["history"]["loss"]) == 12 and len(info["history"]["val_accuracy"]) == 12
    assert info["history"]["loss"][-1] < 0.6 * info["history"]["loss"][0]  # it went on learning
    assert not os.path.exists(os.path.join(out, "backup"))
    rows = open(os.path.join(out, "history.csv")).read().splitlines()
    assert len(rows) == 13 and rows[-1].startswith("11,")


@pytest.mark.parametrize("error, message", [
    ("Error reported from /job:worker/task:0: The following tasks are unhealthy (stopped sending heartbeats):\n"
     "/job:worker/replica:0/task:0", "a worker was lost (worker 0 stopped sending heartbeats)"),
    ("failed to connect to all addresses ... from remote target /job:chief/replica:0/task:0",
     "a worker was lost (the chief unreachable)"),
    ("Deadline Exceeded\n\nRPC: /tensorflow.CoordinationService/Heartbeat",
     "a worker was lost (the chief stopped answering heartbeats)"),
])
def test_lost_worker_message_names_the_peer_and_the_epoch(error, message):
    from kwstrain.distributed import lost_worker_message

    line = lost_worker_message(RuntimeError(error), ("worker", 1), 4, 12)
    assert message in line and line.endswith("to resume from epoch 5 (4 of 12 epochs were done)")
    assert "\n" not in line
    assert "start again" in lost_worker_message(RuntimeError(error), ("chief", 0), 0, 12)


def test_a_backup_of_other_options_is_refused_in_one_line(data, tmp_path, capsys):
    from kwstrain import backup

    out = str(tmp_path / "model")
    os.makedirs(os.path.join(out, "backup"))

    class Model:  # what backup.save reads
        def get_weights(self):
            return [np.zeros(2)]

        class optimizer:
            variables = []

    backup.save(out, Model(), {"epochs": 12, "seed": 1, "strategy": "default"}, 1, {}, [])
    assert backup.load(out, {"epochs": 12, "seed": 1, "strategy": "multi-worker"})["epochs_done"] == 1
    rc, err = _train_here(capsys, data, out, "--seed", "2")
    assert rc == 1 and "Traceback" not in err
    assert "unfinished run with other options" in err and "delete" in err


def test_input_shards_are_disjoint_parts_of_the_single_worker_stream(data):
    from kwsapp.core.features import FeatureConfig
    from kwstrain import dataset, pipeline

    cfg = FeatureConfig()
    tr = pipeline.decode(dataset.scan(data), cfg, use_cache=False)["training"]
    # Labels made unique per example so that batches can be told apart.
    tr.labels = np.arange(len(tr.labels), dtype=np.int32)
    whole = [y.numpy().tolist() for _, y in pipeline.make_dataset(tr, cfg, 4, True, seed=3).take(8)]
    parts = [[y.numpy().tolist() for _, y in pipeline.make_dataset(tr, cfg, 4, True, seed=3, shard=(i, 2)).take(4)]
             for i in range(2)]
    assert parts[0] == whole[0::2] and parts[1] == whole[1::2]
    # A resumed stream (start_step) continues the batch numbering: other batches, not a replay.
    later = [y.numpy().tolist() for _, y in pipeline.make_dataset(tr, cfg, 4, True, seed=3, start_step=8).take(2)]
    assert later != whole[:2]


def test_mirrored_picks_every_gpu_when_there_are_some(monkeypatch):
    import tensorflow as tf

    from kwstrain import train

    seen = {}

    class FakeMirrored:
        def __init__(self, devices):
            seen["devices"] = devices

    def logical(kind):
        if kind == "GPU":
            return [tf.config.LogicalDevice("/device:GPU:0", "GPU"), tf.config.LogicalDevice("/device:GPU:1", "GPU")]
        return [tf.config.LogicalDevice("/device:CPU:0", "CPU")]

    monkeypatch.setattr(tf.config, "list_logical_devices", logical)
    monkeypatch.setattr(tf.distribute, "MirroredStrategy", FakeMirrored)
    train.make_strategy("mirrored")
    assert seen["devices"] == ["/device:GPU:0", "/device:GPU:1"]
    monkeypatch.setattr(tf.config, "list_logical_devices", lambda kind: [] if kind == "GPU" else logical("CPU"))
    train.make_strategy("mirrored")
    assert seen["devices"] == ["/device:CPU:0"]


@pytest.mark.parametrize("tf_config, message", [
    ("{not json", "TF_CONFIG is not a cluster and task description"),
    (json.dumps({"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 0}}), "names one machine"),
])
def test_bad_tf_config_is_one_line(data, tmp_path, capsys, monkeypatch, tf_config, message):
    monkeypatch.setenv("TF_CONFIG", tf_config)
    rc, err = _train_here(capsys, data, str(tmp_path / "m"), "--strategy", "multi-worker")
    assert rc == 1 and "Traceback" not in err and message in err


def test_a_worker_removes_the_folders_of_killed_workers_only(tmp_path):
    from kwstrain.distributed import remove_stale_worker_dirs

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # its process id now names no process
    for name in (f"kws-worker-{gone.pid}-abc", f"kws-worker-{os.getpid()}-def", "kws-worker-xyz", "other"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.keras").write_text("x")
    assert remove_stale_worker_dirs(str(tmp_path)) == [f"kws-worker-{gone.pid}-abc"]
    # a live worker's folder, one without a process id and anything else stay
    assert sorted(os.listdir(tmp_path)) == sorted([f"kws-worker-{os.getpid()}-def", "kws-worker-xyz", "other"])
