"""Masked-LM pretraining: `train(config, workdir, options)`, `evaluate`.

    python -m zoo train bert-mlm --preset cpu --workdir workdirs/bert-mlm-cpu

writes, besides the harness's files (config.json, checkpoints/, logs/):

    vocabulary.txt        the WordPiece vocabulary (learned here)
    model.keras           the `BertMaskedLM` (reloads without custom_objects)
    metrics.json          masked-token accuracy and perplexity (validation)
    plots/attention_layer<L>.png   all heads of one layer over a sentence
"""

import json
import math
import pathlib
import time
import warnings

import keras
import numpy as np

from zoo import harness
from zoo.bert import streams
from zoo.bert.tokenizer import BertTokenizer
from zoo.bert.training import make_optimizer
from zoo.bert.training import save_attention_plot
from zoo.bert_mlm.config import Config
from zoo.bert_mlm.model import build
from zoo.bert_mlm.model import loss
from zoo.data.pretraining_corpus import pretraining_texts


def config_from_workdir(workdir):
    """The `Config` a pretraining work directory was trained with."""
    record = harness.read_config(workdir)
    if record["model"] != Config.model_name:
        raise ValueError(
            f"`workdir` holds a {record['model']!r} run, not a "
            f"{Config.model_name!r} run. Received: workdir={str(workdir)!r}"
        )
    return Config(**record["config"])


def _texts(config):
    return pretraining_texts(
        config.data,
        config.max_tatoeba,
        config.max_reviews,
        config.review_repeats,
        config.validation_texts,
    )


def _tokenizer(config, texts, workdir):
    """The workdir's vocabulary, or one learned from `texts` (saved)."""
    if (pathlib.Path(workdir) / "vocabulary.txt").exists():
        return BertTokenizer.load(workdir)
    tokenizer = BertTokenizer.learn(texts, config.vocabulary_size)
    tokenizer.save(workdir)
    return tokenizer


def _packed(tokenizer, texts, max_length):
    return streams.pack(tokenizer.tokenize(texts).to_list(), max_length)


def score(model, dataset):
    """Exact masked-token accuracy and perplexity over a dataset.

    Every masked token counts once (Keras' per-batch averages would weight
    batches, not tokens).
    """
    total_nll, hits, count = 0.0, 0.0, 0.0
    for inputs, ids, weights in dataset:
        logits = model(inputs, training=False)  # (B, P, V)
        nll = keras.ops.sparse_categorical_crossentropy(
            ids, logits, from_logits=True
        )  # (B, P)
        hit = keras.ops.equal(keras.ops.argmax(logits, -1), ids)  # (B, P)
        weights = np.asarray(weights)
        total_nll += float(np.sum(np.asarray(nll) * weights))
        hits += float(np.sum(np.asarray(hit) * weights))
        count += float(np.sum(weights))
    return {
        "masked_accuracy": round(hits / count, 4),
        "perplexity": round(math.exp(total_nll / count), 2),
        "masked_tokens": int(count),
    }


def train(config, workdir, options=None):
    """Pretrain, save and score a masked LM; returns the metrics."""
    options = options or harness.RunOptions()
    strategy = harness.setup(options)
    workdir = harness.prepare_workdir(workdir, config, options)
    start = time.perf_counter()
    train_texts, validation_texts = _texts(config)
    tokenizer = _tokenizer(config, train_texts, workdir)
    vocabulary_seconds = time.perf_counter() - start
    ids, segments = _packed(tokenizer, train_texts, config.max_length)
    val_ids, val_segments = _packed(
        tokenizer, validation_texts, config.max_length
    )
    vocabulary_size = tokenizer.vocabulary_size
    stream, steps_per_pass = streams.pretraining_stream(
        config, ids, segments, vocabulary_size, options.seed
    )
    validation = streams.pretraining_validation(
        config, val_ids, val_segments, vocabulary_size
    )
    prepare_seconds = time.perf_counter() - start
    total_steps = config.steps_per_epoch * config.epochs
    with strategy.scope():
        model = build(config, vocabulary_size)
        model.compile(
            optimizer=make_optimizer(
                config.learning_rate,
                total_steps,
                config.warmup_fraction,
                config.weight_decay,
                config.clipnorm,
            ),
            loss=loss(),
            weighted_metrics=[
                keras.metrics.SparseCategoricalAccuracy(name="masked_accuracy")
            ],
            jit_compile=options.jit_compile,
        )
    with warnings.catch_warnings():
        # The pooler is trained by fine-tuning (BERT's NSP is not used).
        warnings.filterwarnings("ignore", ".*Gradients do not exist.*pooler")
        history, fit_seconds = harness.fit(
            model,
            stream,
            config.steps_per_epoch,
            config.epochs,
            workdir,
            options,
            validation_data=validation,
        )
    model.save(workdir / "model.keras")
    harness.save_json(workdir / "history.json", history)
    plot = save_attention_plot(
        model.encoder,
        tokenizer,
        config.plot_sentence,
        config.plot_layer,
        config.max_length,
        workdir
        / "plots"
        / f"attention_layer{config.plot_layer % config.num_layers}.png",
    )
    metrics = {
        "model": Config.model_name,
        "data": config.data,
        "vocabulary_size": vocabulary_size,
        "train_texts": len(train_texts),
        "train_sequences": int(ids.shape[0]),
        "train_tokens": int(np.sum(ids != 0)),
        "validation_sequences": int(val_ids.shape[0]),
        "parameters": int(model.count_params()),
        "steps": total_steps,
        "passes_over_corpus": round(total_steps / steps_per_pass, 2),
        "vocabulary_seconds": round(vocabulary_seconds, 1),
        "prepare_seconds": round(prepare_seconds, 1),
        "train_seconds": round(fit_seconds, 1),
        "history_val_masked_accuracy": history.get("val_masked_accuracy"),
        "validation": score(model, validation),
        "attention_plot": str(plot),
        "total_seconds": round(time.perf_counter() - start, 1),
    }
    harness.save_json(workdir / "metrics.json", metrics)
    return metrics


def evaluate(workdir):
    """Re-score the saved masked LM on its validation texts."""
    workdir = pathlib.Path(workdir)
    config = config_from_workdir(workdir)
    model = keras.saving.load_model(workdir / "model.keras")
    tokenizer = BertTokenizer.load(workdir)
    _, validation_texts = _texts(config)
    val_ids, val_segments = _packed(
        tokenizer, validation_texts, config.max_length
    )
    validation = streams.pretraining_validation(
        config, val_ids, val_segments, tokenizer.vocabulary_size
    )
    result = score(model, validation)
    path = workdir / "metrics.json"
    metrics = json.loads(path.read_text()) if path.exists() else {}
    metrics["validation"] = result
    harness.save_json(path, metrics)
    return result
