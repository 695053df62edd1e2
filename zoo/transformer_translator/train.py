"""`train(config, workdir, options)`, `evaluate(workdir)`, `translate(...)`
and `export(workdir)` for the Transformer translator."""

import pathlib
import time

import keras
import numpy as np

from zoo import harness
from zoo import translation as data
from zoo.transformer_translator import export as export_lib
from zoo.transformer_translator.config import Config
from zoo.transformer_translator.decode import Translator
from zoo.transformer_translator.model import build
from zoo.transformer_translator.model import compile_model
from zoo.translation import evaluate_translator


def average_checkpoints(model, paths):
    """Set `model`'s weights to the mean of the weight files `paths`
    (Vaswani et al. average the last checkpoints). Non-float variables
    (e.g. seed states) keep the last file's values."""
    paths = list(paths)
    if not paths:
        raise ValueError("`paths` must not be empty. Received: paths=[]")
    total = None
    for path in paths:
        model.load_weights(path)
        weights = model.get_weights()
        if total is None:
            total = [w.astype("float64") for w in weights]
        else:
            total = [t + w for t, w in zip(total, weights)]
    model.set_weights(
        [
            (t / len(paths)).astype(w.dtype)
            if np.issubdtype(w.dtype, np.floating)
            else w
            for t, w in zip(total, weights)
        ]
    )
    return model


def _validation_bleu(translator, pairs, config):
    scores, _ = evaluate_translator(translator, pairs, config, beam_sizes=(1,))
    return scores["greedy"]["bleu"]


def train(config, workdir, options):
    """Train, save, score and export a Transformer translator."""
    strategy = harness.setup(options)
    workdir = harness.prepare_workdir(workdir, config, options)
    start = time.perf_counter()
    run = data.prepare(
        config,
        workdir,
        options.seed,
        buckets=list(config.bucket_boundaries) or None,
    )
    splits, source_tok, target_tok = run[:3]
    stream, steps, validation = run[3:]
    prepare_seconds = time.perf_counter() - start
    with strategy.scope():
        model = build(
            config, source_tok.vocabulary_size, target_tok.vocabulary_size
        )
        compile_model(model, config, options.jit_compile)
    history, fit_seconds = harness.fit(
        model,
        stream,
        steps,
        config.epochs,
        workdir,
        options,
        validation_data=validation,
    )
    translator = Translator(model, source_tok, target_tok, config)
    averaging = None
    if config.average_last > 1:
        # Decide on the validation split. The test split is decoded once
        # for the kept weights (below) and, only if averaging wins, once
        # more for the last checkpoint so both can be reported.
        final_weights = model.get_weights()
        final_bleu = _validation_bleu(translator, splits.validation, config)
        paths = [
            workdir / "checkpoints" / f"epoch_{epoch:03d}.weights.h5"
            for epoch in range(
                config.epochs - config.average_last + 1, config.epochs + 1
            )
        ]
        average_checkpoints(model, paths)
        averaged_bleu = _validation_bleu(translator, splits.validation, config)
        averaging = {
            "checkpoints": [p.name for p in paths],
            "validation_greedy_bleu_final": final_bleu,
            "validation_greedy_bleu_averaged": averaged_bleu,
            "used": averaged_bleu > final_bleu,
        }
        if averaging["used"]:
            averaged_weights = model.get_weights()
            model.set_weights(final_weights)
            averaging["test_final"], _ = evaluate_translator(
                translator, splits.test, config
            )
            model.set_weights(averaged_weights)
        else:
            model.set_weights(final_weights)
    model.save(workdir / "model.keras")
    harness.save_json(workdir / "history.json", history)
    test, hypotheses = evaluate_translator(translator, splits.test, config)
    metrics = {
        "model": "transformer",
        "data": config.data,
        "train_pairs": len(splits.train),
        "test_pairs": len(splits.test),
        "parameters": model.count_params(),
        "epochs": config.epochs,
        "steps_per_epoch": steps,
        "prepare_seconds": round(prepare_seconds, 1),
        "train_seconds": round(fit_seconds, 1),
        "final_val_masked_accuracy": history.get("val_masked_accuracy", [None])[
            -1
        ],
        "checkpoint_averaging": averaging,
        "test": test,
    }
    print("\nExample translations (test split, beam search):")
    for (source, reference), hypothesis in list(zip(splits.test, hypotheses))[
        : config.num_examples
    ]:
        print(f"  source:     {source}\n  reference:  {reference}")
        print(f"  translated: {hypothesis}\n")
    if splits.test:
        translator.plot_cross_attention(splits.test[0][0], workdir / "plots")
    if data.languages(config)[0] != "ja":
        export_lib.export(translator, workdir / "export")
        metrics["export"] = str(workdir / "export")
    metrics["total_seconds"] = round(time.perf_counter() - start, 1)
    harness.save_json(workdir / "metrics.json", metrics)
    return metrics


def load(workdir, jit_compile=False, uncached=False):
    """`(translator, config)` from a finished work directory."""
    workdir = pathlib.Path(workdir)
    record = harness.read_config(workdir)
    config = Config(**record["config"])
    model = keras.saving.load_model(workdir / "model.keras")
    source_tok, target_tok = data.get_tokenizers(config, None, workdir)
    translator = Translator(
        model,
        source_tok,
        target_tok,
        config,
        jit_compile=jit_compile,
        uncached=uncached,
    )
    return translator, config


def evaluate(workdir):
    """Re-score the saved model on the test split; updates metrics.json."""
    translator, config = load(workdir)
    return data.rescore(translator, config, workdir)


def translate(workdir, sentences, beam_size=None):
    """Print translations; save every head's cross-attention of each
    translation printed as `plots/translate_<sentence slug>_layer<n>.png`."""
    translator, config = load(workdir)
    beam = beam_size or config.beam_size
    tokens, _ = translator.translate_ids(list(sentences), beam_size=beam)
    outputs = [translator.target_tokenizer.detokenize(row) for row in tokens]
    plots = pathlib.Path(workdir) / "plots"
    for sentence, output, row in zip(sentences, outputs, tokens):
        print(f"{sentence}\n  -> {output}")
        _, paths = translator.plot_cross_attention(
            sentence,
            plots,
            prefix=f"translate_{data.plot_slug(sentence)}",
            tokens=row,
        )
        print(f"  cross-attention plots: {', '.join(map(str, paths))}")
    return outputs


def export(workdir, path=None):
    """Export the work directory's model as a SavedModel (see export.py)."""
    translator, _ = load(workdir)
    return export_lib.export(
        translator, path or pathlib.Path(workdir) / "export"
    )
