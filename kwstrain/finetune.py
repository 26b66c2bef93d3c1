"""``kws-train finetune``: adapt a trained model to one user's voice, microphone and words.

The user's takes (standard layout: ``<word>/<speaker>_nohash_<n>.wav``) are split per
word into training takes and held-out takes. Training mixes the training takes
(repeated ``--user-repeat`` times, so a few dozen takes are not drowned by thousands of
base clips) with the base dataset, so nothing the model knew is forgotten, starting from
the current model's weights and augmented as the model was trained (its rooms, levels and
microphones, read from its train_info.json: ``base_augment``), so it keeps hearing rooms.
When ``--labels`` renames commands, the output layer is rebuilt: labels the old model knew
keep their trained weights, new words start fresh; the new labels travel in the new model's
``config.json``.

The new model folder is written under a temporary name and renamed into place at the
end: a cancelled or failed fine-tune leaves nothing half-written, and the source model
(for instance the bundled one) is never touched. ``--progress json`` prints one JSON object
per line on stdout as training goes (start, each epoch, done with the report), for the app's
Train on my voice, which runs this command as a subprocess.
"""
from __future__ import annotations

import csv
import os
import random
import shutil
import threading
from dataclasses import dataclass, fields, replace

from kwsapp.cli_util import stdout_only_json
from kwsapp.core.errors import KwsError, UsageError
from kwsapp.core.model import BUNDLED_MODEL_DIR, Classifier, read_config
from kwsapp.core.sigterm import sigterm_as_ctrl_c
from kwsapp.core.vocabulary import parse_commands

from . import dataset as D
from . import modelfolder

parse_labels = parse_commands  # the app's dialog parses the same text (kwsapp.core.vocabulary)


def base_augment(model_dir: str):
    """The augmentation ``model_dir`` was trained with (its train_info.json), or the trainer's
    default for a folder without one; options a newer trainer added keep their defaults. Its
    rooms are all statistical tails: drawing the image-source ones (--reverb-rooms) takes about
    40 s, a third of a fine-tune."""
    import json

    from .pipeline import AugmentConfig

    try:
        with open(os.path.join(model_dir, modelfolder.TRAIN_INFO)) as f:
            saved = json.load(f)["info"]["config"]["augment"]
    except (OSError, ValueError, KeyError, TypeError):
        return AugmentConfig()
    known = {f.name for f in fields(AugmentConfig)}
    kept: dict = {k: tuple(v) if isinstance(v, list) else v for k, v in saved.items() if k in known}
    return AugmentConfig(**{**kept, "reverb_rooms": 0.0})


def user_clips(user_dir: str, commands) -> list[D.Clip]:
    """Every take of the user's folder, labelled like the base data (other words -> _unknown_)."""
    if not os.path.isdir(user_dir):
        raise KwsError(f"{user_dir}: no such folder of recordings; record takes in the app or pass --user-data")
    clips = []
    for word in sorted(os.listdir(user_dir)):
        folder = os.path.join(user_dir, word)
        if not os.path.isdir(folder) or word == D.BACKGROUND:
            continue
        label = word if word in commands else D.SILENCE if word == D.SILENCE else D.UNKNOWN
        for n in sorted(os.listdir(folder)):
            if n.lower().endswith(".wav"):
                clips.append(D.Clip(os.path.join(folder, n), word, label, "training"))
    if not clips:
        raise KwsError(f"{user_dir}: no WAV takes found (expected <word>/<speaker>_nohash_<n>.wav)")
    return clips


def split_holdout(clips: list[D.Clip], share: float, seed: int) -> tuple[list[D.Clip], list[D.Clip]]:
    """Per word, hold out ``share`` of the takes (at least one where a word has two or more)."""
    by_word: dict[str, list[D.Clip]] = {}
    for c in clips:
        by_word.setdefault(c.word, []).append(c)
    rng = random.Random(seed)
    train, held = [], []
    for word in sorted(by_word):
        takes = sorted(by_word[word], key=lambda c: c.path or "")  # takes are files: never ""
        rng.shuffle(takes)
        k = max(1, round(share * len(takes))) if len(takes) >= 2 and share > 0 else 0
        held += [replace(c, split="testing") for c in takes[:k]]
        train += takes[k:]
    return train, held


@dataclass(frozen=True)
class FinetuneConfig:
    """`kws-train finetune`'s options (its --help says what each does)."""
    user_data: str
    out: str
    data_dir: str
    model: str = BUNDLED_MODEL_DIR
    labels: str | None = None
    epochs: int = 8
    lr: float = 5e-4
    batch_size: int = 64
    holdout: float = 0.2
    user_repeat: int = 5
    unknown_share: float = 0.1
    seed: int = 1
    force: bool = False
    quiet: bool = False


class EpochWatch:
    """``{"event": "epoch", ...}`` for each row the training appends to ``history.csv`` (one per
    finished epoch, flushed as it ends). Read from the file because ``train()`` takes no
    callbacks; a daemon thread polls it so the training loop is not touched."""

    POLL_S = 0.25

    def __init__(self, path: str, epochs: int, emit):
        self.path, self.epochs, self.emit = path, epochs, emit
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="finetune-progress", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        if exc[0] is None:
            self.poll()  # the last epoch's row, written just before training returned

    def _run(self) -> None:
        while not self._stop.wait(self.POLL_S):
            self.poll()

    def poll(self) -> None:
        try:
            with open(self.path, newline="") as f:
                text = f.read()
        except OSError:  # not written yet: no epoch has ended
            return
        rows = list(csv.DictReader(text[: text.rfind("\n") + 1].splitlines()))  # whole lines only
        for row in rows[self.sent:]:
            self.sent += 1
            event = {"event": "epoch", "epoch": int(row["epoch"]) + 1, "epochs": self.epochs}
            for key in ("val_accuracy", "accuracy", "val_loss", "loss"):
                if row.get(key) not in (None, ""):
                    event[key] = float(row[key])
            self.emit(event)


def finetune(args: FinetuneConfig, progress=None) -> dict:
    """``progress``: called with each progress event (a dict) when given: ``start`` as training
    begins, ``epoch`` as each epoch ends; the caller sends ``done``."""
    from .evaluate import evaluate_spec
    from .models import transfer_head
    from .train import TrainConfig, train

    src = os.path.abspath(args.model)
    out = os.path.abspath(args.out)
    if out in (src, os.path.abspath(BUNDLED_MODEL_DIR)):
        raise UsageError(f"--out {args.out} would overwrite {'the bundled' if out != src else 'the source'} model; "
                       "choose a new folder")
    if os.path.exists(out) and os.listdir(out) and not args.force:
        raise KwsError(f"--out {args.out} exists and is not empty; choose a new folder or pass --force")
    base_cfg = read_config(src)
    commands = parse_labels(args.labels, base_cfg.labels)
    labels = D.labels_for(commands)
    takes = user_clips(args.user_data, commands)
    train_takes, held = split_holdout(takes, args.holdout, args.seed)
    missing = [w for w in commands if w not in base_cfg.labels and not any(c.word == w for c in train_takes)]
    if missing:
        raise KwsError(f"new word(s) {', '.join(missing)} have no training takes in {args.user_data}; "
                       "record a few takes of each")
    spec = D.scan(args.data_dir, commands, unknown_share=args.unknown_share, seed=args.seed)
    spec.clips += train_takes * args.user_repeat
    before = after = None
    held_spec = D.DataSpec(args.user_data, "standard", labels, held, spec.background_files)
    if held:
        before = evaluate_spec(Classifier(src, backend="keras"), held_spec, "testing")
    tmp = f"{out}.partial-{os.getpid()}"
    say = progress or (lambda event: None)
    with sigterm_as_ctrl_c():  # the window's Cancel: the half-written folder is removed below
        try:
            cfg = TrainConfig(data_dir=args.data_dir, out=tmp, model=base_cfg.architecture,
                              features=base_cfg.features, epochs=args.epochs, batch_size=args.batch_size,
                              learning_rate=args.lr, warmup_epochs=min(1.0, args.epochs / 4),
                              seed=args.seed, commands=commands, verbose=2 if args.quiet else 1,
                              augment=base_augment(src))
            def build_model(lbls):  # called once the data is read, just before the first epoch
                say({"event": "start", "epochs": args.epochs})
                return transfer_head(os.path.join(src, "model.keras"), base_cfg.labels, lbls)

            with EpochWatch(os.path.join(tmp, "history.csv"), args.epochs, say):
                result = train(cfg, spec=spec, build_model=build_model)
            # No validation streams of the user's voice to tune on: keep the base model's
            # threshold and window (the same head and loss, so similar score calibration).
            modelfolder.save_smoothing(tmp, base_cfg.detection_threshold, base_cfg.average_window_ms)
            if held:
                after = evaluate_spec(Classifier(tmp, backend="keras"), held_spec, "testing")
            report = {
                "base_model": src, "labels": list(labels), "user_takes": len(takes),
                "user_train_takes": len(train_takes), "held_out_takes": len(held),
                "before": _brief(before), "after": _brief(after),
                "validation_accuracy": result.info["best_val_accuracy"],
                "train_time_s": result.info["train_time_s"],
            }
            modelfolder.write_json(tmp, "finetune.json", report)
            modelfolder.publish(tmp, out)
            return report
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _brief(r):
    return None if r is None else {"accuracy": r["accuracy"], "n": r["n"], "per_class": r["per_class"]}


def cmd_finetune(args) -> int:
    events = args.progress == "json"
    with stdout_only_json(args.json or events) as emit:  # with --json, training progress goes to stderr too
        r = finetune(finetune_config(args), emit if events else None)
        print(f"saved {args.out}: labels {' '.join(r['labels'])}")
        if r["before"] and r["after"]:
            print(f"held-out takes ({r['held_out_takes']}): accuracy {r['before']['accuracy']:.3f} before, "
                  f"{r['after']['accuracy']:.3f} after")
        if args.json:
            emit(r)
        if events:
            emit({"event": "done", "out": args.out, "report": r})
    return 0


def finetune_config(args) -> FinetuneConfig:
    return FinetuneConfig(**{f.name: getattr(args, f.name) for f in fields(FinetuneConfig)})


def add_parser(sub):
    from .options import add_data_dir

    p = sub.add_parser("finetune", help="fine-tune a model on your own recordings (and new words)")
    p.add_argument("--model", default=BUNDLED_MODEL_DIR, help="model to start from (default: the bundled one)")
    p.add_argument("--user-data", required=True, help="your takes, standard layout (<word>/<id>_nohash_<n>.wav)")
    add_data_dir(p)
    p.add_argument("--out", required=True, help="new model folder (never the source or the bundled model)")
    p.add_argument("--labels", default=None,
                   help="the command words in order, comma-separated (default: the model's); "
                        "_silence_ and _unknown_ stay")
    p.add_argument("--epochs", type=int, default=8, help="passes over the base data and your takes")
    p.add_argument("--lr", type=float, default=5e-4, help="peak learning rate (default: 5e-4)")
    p.add_argument("--batch-size", type=int, default=64, help="clips per training step")
    p.add_argument("--holdout", type=float, default=0.2, help="share of each word's takes held out (default: 0.2)")
    p.add_argument("--user-repeat", type=int, default=5, help="times each user take appears per epoch (default: 5)")
    p.add_argument("--unknown-share", type=float, default=0.1, help="unknown-word clips per command clip in training")
    p.add_argument("--seed", type=int, default=1, help="random seed (weights, augmentation, held-out takes)")
    p.add_argument("--force", action="store_true", help="replace a non-empty --out folder")
    p.add_argument("--quiet", action="store_true", help="one line per epoch")
    p.add_argument("--json", action="store_true", help="print the before/after report as one JSON object on stdout; progress goes to stderr")
    p.add_argument("--progress", choices=("text", "json"), default="text",
                   help="json: one JSON object per line on stdout ({\"event\": \"start\"|\"epoch\"|\"done\", ...}); "
                        "Keras's own output goes to stderr")
    p.set_defaults(func=cmd_finetune)
