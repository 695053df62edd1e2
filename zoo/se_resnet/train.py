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

from zoo import harness
from zoo.se_resnet import data
from zoo.se_resnet.config import Config
from zoo.se_resnet.model import build_classifier

EVAL_BATCH_SIZE = 500


def config_from_workdir(workdir):
    """The `Config` a work directory was trained with."""
    record = harness.read_config(workdir)
    fields = dict(record["config"])
    fields["filters"] = tuple(fields["filters"])
    return Config(**fields)


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
    splits = data.load_splits(config)
    steps = data.steps_per_epoch(splits["train"], config)
    with strategy.scope():
        model = build_classifier(config)
        _compile(model, config, steps * config.epochs, options)
    history, seconds = harness.fit(
        model,
        data.train_stream(splits["train"], config, seed=options.seed),
        steps_per_epoch=steps,
        epochs=config.epochs,
        workdir=workdir,
        options=options,
        validation_data=data.eval_dataset(
            splits["validation"], EVAL_BATCH_SIZE
        ),
    )
    model.save(workdir / "model.keras")
    harness.save_json(workdir / "history.json", history)
    test_loss, test_accuracy = model.evaluate(
        data.eval_dataset(splits["test"], EVAL_BATCH_SIZE), verbose=0
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
    splits = data.load_splits(config)
    test_loss, test_accuracy = model.evaluate(
        data.eval_dataset(splits["test"], EVAL_BATCH_SIZE), verbose=0
    )
    path = workdir / "metrics.json"
    metrics = json.loads(path.read_text()) if path.exists() else {}
    metrics.update(
        {"test_accuracy": float(test_accuracy), "test_loss": float(test_loss)}
    )
    harness.save_json(path, metrics)
    return metrics
