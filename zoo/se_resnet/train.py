"""Train and evaluate the SE-ResNet (or plain ResNet) classifier.

    python -m zoo train se-resnet --preset cpu
    python -m zoo train se-resnet --preset cpu --set use_se=false \\
        --workdir workdirs/resnet-cpu

writes `<workdir>/model.keras` (the classifier, logits) and
`<workdir>/metrics.json` (test accuracy, train time). The SAGAN's FID-style
score loads `model.keras` from here (`zoo.sagan.metrics`).
"""

import json
import pathlib

import keras
import tensorflow as tf

from zoo import harness
from zoo.data import fashion_mnist
from zoo.se_resnet.config import config_from_workdir
from zoo.se_resnet.model import build_classifier

EVAL_BATCH_SIZE = 500


def load_splits(config):
    """`{"train", "validation", "test"}` → `(images, labels)` numpy pairs.

    Model inputs (`fashion_mnist.model_inputs`); validation is a fixed
    random subset of the training images (seed 0); the test split is the
    official 10k test set.
    """
    train, test = fashion_mnist.model_inputs(config.data)
    kept, held = fashion_mnist.hold_out(
        train, config.validation_examples, config.max_train_examples
    )
    return {"train": kept, "validation": held, "test": test}


def _flip(step, batch):
    # Stateless, keyed on the step: a resumed run flips the same images.
    images, labels = batch
    seed = tf.stack([tf.constant(1, tf.int64), step])
    return tf.image.stateless_random_flip_left_right(images, seed), labels


def train_stream(split, config, seed=0):
    """The repeated, shuffled, batched training stream: batch `i` is the
    same on every run (what the harness's exact resume needs)."""
    images, labels = split
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    dataset = dataset.shuffle(len(images), seed=seed).repeat()
    dataset = dataset.batch(config.batch_size, drop_remainder=True)
    if config.augment:
        dataset = tf.data.Dataset.zip(tf.data.Dataset.counter(), dataset)
        dataset = dataset.map(_flip)
    return dataset.prefetch(tf.data.AUTOTUNE)


def eval_dataset(split, batch_size=EVAL_BATCH_SIZE):
    """A finite, ordered dataset for `evaluate` / `predict`."""
    dataset = tf.data.Dataset.from_tensor_slices(split)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _compile(model, config, total_steps, options):
    schedule = keras.optimizers.schedules.CosineDecay(
        config.learning_rate, decay_steps=total_steps
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(
            schedule, weight_decay=config.weight_decay
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=options.jit_compile,
    )


def train(config, workdir, options=None):
    """Train on `config.data`; returns the metrics written to metrics.json."""
    options = options or harness.RunOptions()
    strategy = harness.setup(options)
    workdir = harness.prepare_workdir(workdir, config, options)
    splits = load_splits(config)
    steps = max(1, len(splits["train"][0]) // config.batch_size)
    with strategy.scope():
        model = build_classifier(config)
        _compile(model, config, steps * config.epochs, options)
    history, seconds = harness.fit(
        model,
        train_stream(splits["train"], config, seed=options.seed),
        steps_per_epoch=steps,
        epochs=config.epochs,
        workdir=workdir,
        options=options,
        validation_data=eval_dataset(splits["validation"]),
    )
    model.save(workdir / "model.keras")
    harness.save_json(workdir / "history.json", history)
    test_loss, test_accuracy = model.evaluate(
        eval_dataset(splits["test"]), verbose=0
    )
    metrics = {
        "model": model.name,
        "use_se": config.use_se,
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "validation_accuracy": float(history["val_accuracy"][-1]),
        "parameters": int(model.count_params()),
        "train_examples": int(len(splits["train"][0])),
        "epochs": config.epochs,
        "train_seconds": round(seconds, 1),
    }
    harness.save_json(workdir / "metrics.json", metrics)
    return metrics


def evaluate(workdir):
    """Test accuracy of `<workdir>/model.keras`; updates metrics.json."""
    workdir = pathlib.Path(workdir)
    config = config_from_workdir(workdir)
    model = keras.saving.load_model(workdir / "model.keras")
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    splits = load_splits(config)
    test_loss, test_accuracy = model.evaluate(
        eval_dataset(splits["test"]), verbose=0
    )
    path = workdir / "metrics.json"
    metrics = json.loads(path.read_text()) if path.exists() else {}
    metrics.update(
        {"test_accuracy": float(test_accuracy), "test_loss": float(test_loss)}
    )
    harness.save_json(path, metrics)
    return metrics
