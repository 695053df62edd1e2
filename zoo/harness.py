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

Distribution (`--distribute`): on TensorFlow, `mirrored` (the local GPUs,
or CPUs) and `multi-worker` (`MultiWorkerMirroredStrategy`, one process
per machine, the cluster in `TF_CONFIG`); on JAX, `data-parallel`
(`keras.distribution.DataParallel` over the local devices) and
`model-parallel` (`keras.distribution.ModelParallel`: the attention
projections split by heads and the feed-forward kernels by hidden units,
`layout_map`). The batch size of a config is the global batch, split
across replicas. In a multi-worker run only the chief writes the work
directory; every other worker writes to a temporary directory, deleted
when it exits, and restores from the chief's backup (so the work
directory must be on a filesystem every worker sees for a resume).
"""

import atexit
import contextlib
import dataclasses
import json
import os
import pathlib
import shutil
import tempfile
import time

import keras
import tensorflow as tf

from zoo.config_utils import UsageError
from zoo.config_utils import corrupt_backup_error
from zoo.config_utils import read_config

TF_DISTRIBUTE = ("mirrored", "multi-worker")  # tf.distribute strategies
JAX_DISTRIBUTE = ("data-parallel", "model-parallel")  # keras.distribution
DISTRIBUTE_CHOICES = ("none", *TF_DISTRIBUTE, *JAX_DISTRIBUTE)
PRECISION_CHOICES = ("float32", "mixed_float16", "mixed_bfloat16")
MODEL_AXIS = "model"  # the device-mesh axis `model-parallel` shards along


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How to run, independent of what to train.

    Attributes:
        mixed_precision: a Keras dtype policy name (`float32`,
            `mixed_float16` for GPUs, `mixed_bfloat16` for TPUs/new CPUs).
        jit_compile: compile the train step with XLA.
        distribute: `none`; on TensorFlow `mirrored` (all local GPUs,
            or CPUs) or `multi-worker` (reads `TF_CONFIG`); on JAX
            `data-parallel` or `model-parallel` (all local devices).
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
        check_distribute(self.distribute)
        if self.backup_every < 1:
            raise ValueError(
                "`backup_every` must be a positive integer. Received: "
                f"backup_every={self.backup_every}"
            )


def check_distribute(name, backend=None):
    """Raise a `ValueError` unless `name` is a `--distribute` choice that
    runs on `backend` (default: the Keras backend)."""
    backend = backend or keras.config.backend()
    if name not in DISTRIBUTE_CHOICES:
        raise ValueError(
            f"`distribute` must be one of {DISTRIBUTE_CHOICES}. "
            f"Received: distribute={name!r}"
        )
    needs = {**dict.fromkeys(TF_DISTRIBUTE, "tensorflow")}
    needs.update(dict.fromkeys(JAX_DISTRIBUTE, "jax"))
    if needs.get(name, backend) != backend:
        usable = [
            n for n in DISTRIBUTE_CHOICES if needs.get(n, backend) == backend
        ]
        raise ValueError(
            f"`distribute={name!r}` needs KERAS_BACKEND={needs[name]}; on "
            f"the {backend} backend the choices are {', '.join(usable)}. "
            f"Received: distribute={name!r}"
        )


def tf_config():
    """The cluster of a multi-worker run: `TF_CONFIG`, parsed and checked."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise UsageError(
            "--distribute multi-worker reads the cluster from the TF_CONFIG "
            "environment variable, which is not set (README: More than one "
            "machine)."
        )
    try:
        config = json.loads(raw)
        task = config["task"]
        workers = config["cluster"][task["type"]]
        index = int(task.get("index", 0))
        if not 0 <= index < len(workers):
            raise ValueError(index)
    except (ValueError, KeyError, TypeError):
        raise UsageError(
            'TF_CONFIG must be JSON like {"cluster": {"worker": '
            '["host1:port", "host2:port"]}, "task": {"type": '
            f'"worker", "index": 0}}}}. Received: TF_CONFIG={raw}'
        ) from None
    return config


def is_chief(distribute):
    """Whether this process writes the work directory: always, but in a
    multi-worker run only the `chief` task (or worker 0 if there is no
    chief), as tf.distribute counts it."""
    if distribute != "multi-worker":
        return True
    config = tf_config()
    kind, index = config["task"]["type"], int(config["task"].get("index", 0))
    if kind == "chief":
        return True
    return kind == "worker" and index == 0 and "chief" not in config["cluster"]


_MULTI_WORKER = []  # the one MultiWorkerMirroredStrategy of this process


def get_strategy(name):
    """The `tf.distribute` strategy for a `--distribute` choice (the
    default strategy for `none` and for the JAX choices)."""
    if name not in DISTRIBUTE_CHOICES:
        check_distribute(name)  # raises
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multi-worker":
        # One per process, created before anything starts TensorFlow's
        # devices (it configures the collective ops); AUTO picks NCCL
        # between GPUs and RING otherwise (CPUs).
        if not _MULTI_WORKER:
            tf_config()
            implementation = (
                tf.distribute.experimental.CommunicationImplementation
            )
            _MULTI_WORKER.append(
                tf.distribute.MultiWorkerMirroredStrategy(
                    communication_options=tf.distribute.experimental.CommunicationOptions(
                        implementation=implementation.AUTO
                    )
                )
            )
        return _MULTI_WORKER[0]
    return tf.distribute.get_strategy()


def layout_map(device_mesh, model_axis=MODEL_AXIS):
    """A `keras.distribution.LayoutMap` that shards `keras_attn`'s
    attention and feed-forward weights along `model_axis`.

    `MultiHeadAttention` (every block's `self_attention` and
    `cross_attention`): the `query`/`key`/`value` kernels `(D, N, H)` and
    the `gate` kernel by heads `N`, their biases `(N, H)` too, the
    `attention_output` kernel `(N, H, D)` by heads. `FeedForward`: the
    `intermediate_dense`/`gate_dense` kernels `(D, F)` and biases `(F,)`
    by hidden units `F`, the `output_dense` kernel `(F, D)` by `F`. So a
    block runs as Megatron-style tensor parallelism: each device holds its
    heads and hidden units, and one all-reduce follows each output
    projection. Everything else (embeddings, norms, output biases) is
    replicated. Keys are matched against `variable.path` in full.
    """
    layouts = keras.distribution.LayoutMap(device_mesh)
    m = model_axis
    projection = r"(.+/)?(query|key|value|gate)"
    layouts[projection + "/kernel"] = (None, m, None)
    layouts[projection + "/bias"] = (m, None)
    layouts[r"(.+/)?attention_output/kernel"] = (m, None, None)
    feed_forward = r"(.+/)?(intermediate_dense|gate_dense)"
    layouts[feed_forward + "/kernel"] = (None, m)
    layouts[feed_forward + "/bias"] = (m,)
    layouts[r"(.+/)?output_dense/kernel"] = (m, None)
    return layouts


class ModelParallel(keras.distribution.ModelParallel):
    """`keras.distribution.ModelParallel` that replicates an axis the
    model axis does not divide (e.g. one key/value head under multi-query
    attention), and a variable whose rank its layout does not fit (a
    `query` Dense of another layer), instead of failing at creation."""

    def get_variable_layout(self, variable):
        layout = super().get_variable_layout(variable)
        mesh = self.device_mesh
        if len(layout.axes) != len(variable.shape):
            return keras.distribution.TensorLayout(
                (None,) * len(variable.shape), mesh
            )
        sizes = dict(zip(mesh.axis_names, mesh.shape))
        axes = tuple(
            axis if axis is None or dim % sizes[axis] == 0 else None
            for axis, dim in zip(layout.axes, variable.shape)
        )
        if axes == tuple(layout.axes):
            return layout
        return keras.distribution.TensorLayout(axes, mesh)


def jax_distribution(name):
    """The `keras.distribution` for a JAX `--distribute` choice over all
    local devices: `data-parallel` splits each batch; `model-parallel`
    puts every device on the model axis, mesh `(1, n)` = (batch, model)."""
    devices = keras.distribution.list_devices()
    if name == "data-parallel":
        return keras.distribution.DataParallel(devices=devices)
    mesh = keras.distribution.DeviceMesh(
        (1, len(devices)), ("batch", MODEL_AXIS), devices
    )
    return ModelParallel(layout_map=layout_map(mesh), batch_dim_name="batch")


def setup(options):
    """Start the distribution, seed everything and set the dtype policy;
    return the `tf.distribute` strategy to build the model in (the default
    one when the distribution is JAX's, set globally)."""
    # First: MultiWorkerMirroredStrategy must configure TensorFlow's devices.
    strategy = get_strategy(options.distribute)
    keras.utils.set_random_seed(options.seed)
    keras.config.set_dtype_policy(options.mixed_precision)
    if keras.config.backend() == "jax":
        distribution = None
        if options.distribute in JAX_DISTRIBUTE:
            distribution = jax_distribution(options.distribute)
        keras.distribution.set_distribution(distribution)
    return strategy


def batch_shards():
    """Into how many parts the active JAX distribution splits a batch."""
    distribution = keras.distribution.distribution()
    if distribution is None:
        return 1
    mesh = distribution.device_mesh
    return dict(zip(mesh.axis_names, mesh.shape))[distribution.batch_dim_name]


def prepare_workdir(workdir, config, options):
    """Create the work directory and write config.json.

    Refuses to resume a work directory whose saved config differs, so that
    a resumed run is the same run.
    """
    workdir = pathlib.Path(workdir)
    if not is_chief(options.distribute):
        return _worker_dir(workdir)
    record = {
        "model": config.model_name,
        "config": dataclasses.asdict(config),
        "options": dataclasses.asdict(options),
    }
    path = workdir / "config.json"
    if path.exists() and (workdir / "backup").exists():
        saved = read_config(workdir)
        # As JSON reads it back (a tuple field comes back as a list).
        if saved["config"] != json.loads(json.dumps(record["config"])):
            raise UsageError(
                f"`{workdir}` holds an interrupted run with a different "
                "config: use a new --workdir, or pass --restart to delete "
                "that run's backup and checkpoints and start over."
            )
    for sub in ("checkpoints", "logs", "plots"):
        (workdir / sub).mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False))
    return workdir


_CHIEF_WORKDIR = {}  # a non-chief worker's temporary dir -> the workdir


def _worker_dir(workdir):
    """A non-chief worker's temporary work directory, deleted at exit."""
    index = tf_config()["task"].get("index", 0)
    temporary = pathlib.Path(tempfile.mkdtemp(prefix=f"zoo-worker{index}-"))
    for sub in ("checkpoints", "logs", "plots"):
        (temporary / sub).mkdir()
    atexit.register(shutil.rmtree, temporary, ignore_errors=True)
    _CHIEF_WORKDIR[temporary] = workdir
    print(
        f"Worker {index} is not the chief: it writes to {temporary} "
        f"(deleted at exit) and restores from {workdir / 'backup'}."
    )
    return temporary


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
        # In the strategy's scope, as `fit` would build it (else
        # MultiWorkerMirroredStrategy refuses the optimizer's variables).
        strategy = getattr(model, "distribute_strategy", None)
        with strategy.scope() if strategy else contextlib.nullcontext():
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
    # A non-chief worker writes its own backup but restores the chief's.
    shared = _CHIEF_WORKDIR.get(workdir, workdir)
    step = _restored_step(model, shared / "backup")
    validation_data = _whole_batches(train_stream, validation_data)
    if options.distribute in TF_DISTRIBUTE:
        _build_from_spec(model, train_stream.element_spec)
    if options.distribute == "multi-worker":
        _vector_logs(model)
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


def _build_from_spec(model, spec):
    """Make `fit`/`evaluate` build the model's metrics from `spec` (the
    stream's `TensorSpec`s) under a `tf.distribute` strategy.

    Keras' TensorFlow trainer (3.15) builds them from the first batch of
    the distributed iterator (`Model._maybe_symbolic_build`): it takes
    that batch away from training, so every `fit` call skips one batch
    (and a resumed run sees other batches than an uninterrupted one), and
    it all-reduces the nested batch, which `MultiWorkerMirroredStrategy`
    rejects. Shapes and dtypes are all that build needs.
    """
    strategy = model.distribute_strategy

    def build(iterator=None, data_batch=None):
        with strategy.scope():
            model._symbolic_build(data_batch=spec)

    model._maybe_symbolic_build = build


def _vector_logs(model):
    """Make the model's train and test steps return their logs as `(1,)`
    vectors: Keras' TensorFlow trainer (3.15) averages each log over the
    workers of a `MultiWorkerMirroredStrategy` with
    `strategy.reduce("MEAN", log, axis=0)`, which fails on the scalars
    `train_step` returns. The averages are the same scalars again."""

    def vectors(step):
        def wrapped(data):
            return keras.tree.map_structure(
                lambda v: keras.ops.reshape(v, (1,)) if v.shape == () else v,
                step(data),
            )

        return wrapped

    model.train_step = vectors(model.train_step)
    model.test_step = vectors(model.test_step)


def _whole_batches(train_stream, validation_data):
    """Under a JAX distribution that splits batches into `k` parts, check
    that the training batch divides, and leave out a validation batch that
    does not (the last, partial one)."""
    k = batch_shards()
    if k == 1:
        return validation_data
    size = tf.nest.flatten(train_stream.element_spec)[0].shape[0]
    if size is not None and size % k:
        raise UsageError(
            f"--distribute data-parallel splits each batch over {k} "
            f"devices: the batch size must be a multiple of {k}. "
            f"Received: batch_size={size}"
        )
    if validation_data is None:
        return None
    return validation_data.filter(
        lambda *batch: tf.shape(tf.nest.flatten(batch)[0])[0] % k == 0
    )


def compiled(fn, jit_compile=False, **tf_function_kwargs):
    """`fn` compiled for the Keras backend: `tf.function` on TensorFlow
    (XLA with `jit_compile`), `jax.jit` on JAX (always XLA; traced once
    per input shape), `fn` itself on PyTorch (eager). The zoo's decoding
    loops and scoring steps compile through this, so they run on both."""
    backend = keras.config.backend()
    if backend == "tensorflow":
        return tf.function(fn, jit_compile=jit_compile, **tf_function_kwargs)
    if backend == "jax":
        import jax

        return jax.jit(fn)
    return fn


def save_json(path, data):
    pathlib.Path(path).write_text(
        json.dumps(data, indent=2, ensure_ascii=False, default=float)
    )


def num_cpus():
    return os.cpu_count() or 1
