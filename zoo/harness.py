"""The training harness every zoo model shares.

`fit(...)` wraps `model.fit` with the standard Keras callbacks and one work
directory:

    workdir/
      config.json           the model config (and run options) of the run
      logs/                 TensorBoard event files
      checkpoints/          epoch_NNN.weights.h5 after every epoch
      backup/               BackupAndRestore state (deleted when training ends)
      model.keras           the final model (reloads without custom_objects)
      metrics.json          what the model's train() measured
      history.json          the merged Keras history
      plots/                figures written by the model's scripts

Resuming: the training stream is a deterministic, repeated `tf.data`
pipeline and `steps_per_epoch` is fixed, so the position in the data is a
function of the optimizer's step. A run killed mid-epoch restores weights
and optimizer state from the last backup (every `backup_every` steps), skips
the batches it had already consumed, finishes the interrupted epoch, then
continues; an interrupted-and-resumed run ends with the same weights as an
uninterrupted one (tested). A backup that cannot be read stops the run
with a `UsageError` saying to delete it or pass `--restart`
(`clear_run`).
"""

import dataclasses
import json
import os
import pathlib
import shutil
import time

import keras
import tensorflow as tf

from zoo.config_utils import UsageError
from zoo.config_utils import corrupt_backup_error
from zoo.config_utils import read_config

DISTRIBUTE_CHOICES = ("none", "mirrored", "multi-worker")
PRECISION_CHOICES = ("float32", "mixed_float16", "mixed_bfloat16")


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How to run, independent of what to train.

    Attributes:
        mixed_precision: a Keras dtype policy name (`float32`,
            `mixed_float16` for GPUs, `mixed_bfloat16` for TPUs/new CPUs).
        jit_compile: compile the train step with XLA.
        distribute: `none`, `mirrored` (all local GPUs, or CPUs) or
            `multi-worker` (reads `TF_CONFIG`).
        seed: global seed (weights, shuffling, dropout).
        backup_every: steps between BackupAndRestore saves.
        verbose: Keras progress-bar verbosity.
    """

    mixed_precision: str = "float32"
    jit_compile: bool = False
    distribute: str = "none"
    seed: int = 0
    backup_every: int = 100
    verbose: int = 1

    def __post_init__(self):
        if self.mixed_precision not in PRECISION_CHOICES:
            raise ValueError(
                f"`mixed_precision` must be one of {PRECISION_CHOICES}. "
                f"Received: mixed_precision={self.mixed_precision!r}"
            )
        if self.distribute not in DISTRIBUTE_CHOICES:
            raise ValueError(
                f"`distribute` must be one of {DISTRIBUTE_CHOICES}. "
                f"Received: distribute={self.distribute!r}"
            )
        if self.backup_every < 1:
            raise ValueError(
                "`backup_every` must be a positive integer. Received: "
                f"backup_every={self.backup_every}"
            )


def get_strategy(name):
    """The `tf.distribute` strategy for a `--distribute` choice."""
    if name == "none":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multi-worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(
        f"`distribute` must be one of {DISTRIBUTE_CHOICES}. "
        f"Received: distribute={name!r}"
    )


def setup(options):
    """Seed everything and set the dtype policy; return the strategy."""
    keras.utils.set_random_seed(options.seed)
    keras.config.set_dtype_policy(options.mixed_precision)
    return get_strategy(options.distribute)


def prepare_workdir(workdir, config, options):
    """Create the work directory and write config.json.

    Refuses to resume a work directory whose saved config differs, so that
    a resumed run is the same run.
    """
    workdir = pathlib.Path(workdir)
    record = {
        "model": config.model_name,
        "config": dataclasses.asdict(config),
        "options": dataclasses.asdict(options),
    }
    path = workdir / "config.json"
    if path.exists() and (workdir / "backup").exists():
        saved = read_config(workdir)
        if saved["config"] != record["config"]:
            raise UsageError(
                f"`{workdir}` holds an interrupted run with a different "
                "config: use a new --workdir, or pass --restart to delete "
                "that run's backup and checkpoints and start over."
            )
    for sub in ("checkpoints", "logs", "plots"):
        (workdir / sub).mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False))
    return workdir


class ResumableBackup(keras.callbacks.BackupAndRestore):
    """Keras' BackupAndRestore saving, with the restore done by `fit` below.

    Keras' own restore puts the weights back but restarts the interrupted
    epoch from its first batch and, after a resume, records epoch 0 until
    the next epoch ends. Here the harness restores before `fit` and also
    moves the data stream to the right batch; this callback only saves
    (every `save_freq` steps, weights and optimizer state) and keeps the
    backup until the whole run has finished.
    """

    def __init__(self, backup_dir, save_freq):
        super().__init__(
            backup_dir,
            save_freq=save_freq,
            double_checkpoint=True,  # a kill mid-write leaves the previous
            delete_checkpoint=False,
        )

    def on_train_begin(self, logs=None):
        pass  # restored by `_restored_step` before `fit`

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch


def _restored_step(model, backup_dir):
    """Load the backup into `model` (if any); return the optimizer step."""
    backup_dir = pathlib.Path(backup_dir)
    weights = backup_dir / "latest.weights.h5"
    if not weights.exists():
        return 0
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(weights)
    except (OSError, ValueError) as error:
        # Killed while writing: fall back to the previous backup.
        previous = pathlib.Path(f"{weights}.bkp")
        unreadable = corrupt_backup_error(backup_dir.parent, weights, error)
        if not previous.exists():
            raise unreadable from None
        # Keras loads only `*.weights.h5` names: copy it over, as Keras'
        # own BackupAndRestore does.
        shutil.copyfile(previous, weights)
        try:
            model.load_weights(weights)
        except (OSError, ValueError):
            raise unreadable from None
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


def fit(
    model,
    train_stream,
    steps_per_epoch,
    epochs,
    workdir,
    options,
    validation_data=None,
    callbacks=(),
):
    """`model.fit` with checkpoints, backups, TensorBoard and exact resume.

    Args:
        model: a compiled, built Keras model.
        train_stream: a deterministic *repeated* `tf.data.Dataset`; step `i`
            of training consumes its element `i`.
        steps_per_epoch: training steps per epoch.
        epochs: total epochs.
        workdir: the work directory (see the module docstring).
        options: `RunOptions`.
        validation_data: a finite dataset evaluated after each epoch.
        callbacks: extra Keras callbacks.

    Returns:
        (history dict merged over resumed segments, seconds spent in fit).
    """
    workdir = pathlib.Path(workdir)
    backup_dir = workdir / "backup"
    step = _restored_step(model, backup_dir)
    standard = [
        ResumableBackup(str(backup_dir), save_freq=options.backup_every),
        keras.callbacks.ModelCheckpoint(
            str(workdir / "checkpoints" / "epoch_{epoch:03d}.weights.h5"),
            save_weights_only=True,
        ),
        keras.callbacks.TensorBoard(str(workdir / "logs")),
        keras.callbacks.TerminateOnNaN(),
        *callbacks,
    ]
    history = {}
    start = time.perf_counter()
    first_epoch, done_in_epoch = divmod(step, steps_per_epoch)
    if step:
        print(
            f"Resuming from step {step} (epoch {first_epoch + 1}, "
            f"batch {done_in_epoch})."
        )
    segments = []
    if done_in_epoch:
        # Finish the interrupted epoch on the batches it had not seen.
        segments.append((first_epoch, steps_per_epoch - done_in_epoch, step))
        first_epoch += 1
        step = first_epoch * steps_per_epoch
    if first_epoch < epochs:
        segments.append((first_epoch, steps_per_epoch, step))
    for epoch, steps, skip in segments:
        last = epochs if steps == steps_per_epoch else epoch + 1
        h = model.fit(
            train_stream.skip(skip),
            steps_per_epoch=steps,
            initial_epoch=epoch,
            epochs=last,
            validation_data=validation_data,
            callbacks=standard,
            shuffle=False,  # the stream is shuffled, deterministically
            verbose=options.verbose,
        )
        for key, values in h.history.items():
            history.setdefault(key, []).extend(values)
        if model.stop_training:
            break
    elapsed = time.perf_counter() - start
    if not model.stop_training:
        shutil.rmtree(backup_dir, ignore_errors=True)
    return history, elapsed


def save_json(path, data):
    pathlib.Path(path).write_text(
        json.dumps(data, indent=2, ensure_ascii=False, default=float)
    )


def num_cpus():
    return os.cpu_count() or 1
