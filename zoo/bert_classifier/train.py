"""Sentiment fine-tuning: `train(config, workdir, options)`, `evaluate`.

    python -m zoo train bert-classifier --preset cpu \\
        --init workdirs/bert-mlm-cpu --workdir workdirs/bert-clf-cpu

trains on the VADER movie-snippet train split, keeps the epoch with the
best validation accuracy (from the harness's per-epoch checkpoints) and
scores it on the test split. Writes `vocabulary.txt`, `model.keras` (the
selected epoch) and `metrics.json` besides the harness's files.
"""

import dataclasses
import json
import pathlib
import warnings

import keras
import numpy as np

from zoo import harness
from zoo.bert import streams
from zoo.bert.config import architecture
from zoo.bert.tokenizer import BertTokenizer
from zoo.bert.training import make_optimizer
from zoo.bert_classifier.config import Config
from zoo.bert_classifier.model import build
from zoo.bert_mlm import config_from_workdir as pretraining_config
from zoo.data import vader

EVAL_BATCH_SIZE = 256


def resolve(config):
    """The config with `init`'s architecture (a no-op without `init`)."""
    if not config.init:
        return config
    pretrained = pretraining_config(config.init)
    return dataclasses.replace(
        config,
        vocabulary_size=pretrained.vocabulary_size,
        **architecture(pretrained),
    )


def config_from_workdir(workdir):
    """The `Config` a fine-tuning work directory was trained with."""
    record = harness.read_config(workdir)
    return Config(**record["config"])


def load_splits(config):
    """`LabelledSplits` of the movie snippets, shrunk for small presets."""
    splits = vader.load_movie_snippets()
    train = splits.train[: config.max_train_examples or None]
    limit = config.max_eval_examples or None
    return vader.LabelledSplits(
        train, splits.validation[:limit], splits.test[:limit]
    )


def _tokenizer(config, train_texts, workdir):
    if (pathlib.Path(workdir) / "vocabulary.txt").exists():
        return BertTokenizer.load(workdir)  # a resumed run
    source = config.init or config.vocabulary
    if source:
        tokenizer = BertTokenizer.load(source)
    else:
        tokenizer = BertTokenizer.learn(train_texts, config.vocabulary_size)
    tokenizer.save(workdir)
    return tokenizer


def _encode(config, tokenizer, split):
    rows = streams.encode_snippets(
        tokenizer, [t for t, _ in split], config.max_length
    )
    return rows, [label for _, label in split]


def _metrics():
    return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]


def _loss():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def train(config, workdir, options=None):
    """Fine-tune, select on validation, score on test; returns metrics."""
    options = options or harness.RunOptions()
    config = resolve(config)
    strategy = harness.setup(options)
    workdir = harness.prepare_workdir(workdir, config, options)
    splits = load_splits(config)
    tokenizer = _tokenizer(config, [t for t, _ in splits.train], workdir)
    train_rows, train_labels = _encode(config, tokenizer, splits.train)
    stream, steps = streams.classification_stream(
        train_rows, train_labels, config.batch_size, options.seed
    )
    validation = streams.classification_dataset(
        *_encode(config, tokenizer, splits.validation), EVAL_BATCH_SIZE
    )
    with strategy.scope():
        model = build(config, tokenizer.vocabulary_size)
        model.compile(
            optimizer=make_optimizer(
                config.learning_rate,
                steps * config.epochs,
                config.warmup_fraction,
                config.weight_decay,
                config.clipnorm,
            ),
            loss=_loss(),
            metrics=_metrics(),
            jit_compile=options.jit_compile,
        )
    with warnings.catch_warnings():
        # With pooling="mean" the encoder's [CLS] pooler is unused.
        warnings.filterwarnings("ignore", ".*Gradients do not exist.*pooler")
        history, fit_seconds = harness.fit(
            model,
            stream,
            steps,
            config.epochs,
            workdir,
            options,
            validation_data=validation,
        )
    val_accuracy = history["val_accuracy"]
    best = int(np.argmax(val_accuracy)) + 1  # first best, 1-based
    model.load_weights(workdir / "checkpoints" / f"epoch_{best:03d}.weights.h5")
    model.save(workdir / "model.keras")
    harness.save_json(workdir / "history.json", history)
    test = _test_accuracy(model, config, tokenizer, splits.test)
    metrics = {
        "model": Config.model_name,
        "init": config.init,
        "freeze_encoder": config.freeze_encoder,
        "seed": options.seed,
        "train_examples": len(splits.train),
        "parameters": int(model.count_params()),
        "trainable_parameters": int(
            sum(np.prod(v.shape) for v in model.trainable_weights)
        ),
        "epochs": config.epochs,
        "steps_per_epoch": steps,
        "best_epoch": best,
        "val_accuracy": [round(float(a), 4) for a in val_accuracy],
        "validation_accuracy": round(float(val_accuracy[best - 1]), 4),
        "test_accuracy": test,
        "train_seconds": round(fit_seconds, 1),
    }
    harness.save_json(workdir / "metrics.json", metrics)
    return metrics


def _test_accuracy(model, config, tokenizer, split):
    if not model.compiled:
        model.compile(loss=_loss(), metrics=_metrics())
    dataset = streams.classification_dataset(
        *_encode(config, tokenizer, split), EVAL_BATCH_SIZE
    )
    _, accuracy = model.evaluate(dataset, verbose=0)
    return round(float(accuracy), 4)


def evaluate(workdir):
    """Test accuracy of `<workdir>/model.keras`; updates metrics.json."""
    workdir = pathlib.Path(workdir)
    config = config_from_workdir(workdir)
    model = keras.saving.load_model(workdir / "model.keras")
    model.compile(loss=_loss(), metrics=_metrics())
    tokenizer = BertTokenizer.load(workdir)
    test = _test_accuracy(model, config, tokenizer, load_splits(config).test)
    path = workdir / "metrics.json"
    metrics = json.loads(path.read_text()) if path.exists() else {}
    metrics["test_accuracy"] = test
    harness.save_json(path, metrics)
    return {"test_accuracy": test}
