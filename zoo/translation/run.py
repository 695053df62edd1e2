"""The path both translators share: train, report, load, evaluate,
translate. Each model's train.py supplies only what differs (its model,
its Translator, its extra steps)."""

import pathlib
import time
from typing import NamedTuple

import keras

from zoo import harness
from zoo.translation.data import prepare
from zoo.translation.runtime import plot_slug
from zoo.translation.scoring import evaluate_translator
from zoo.translation.scoring import rescore


class Trained(NamedTuple):
    """A translator model after `fit`, with what it was trained on."""

    model: object
    splits: object
    source_tokenizer: object
    target_tokenizer: object
    history: dict
    steps_per_epoch: int
    prepare_seconds: float
    train_seconds: float
    start: float
    workdir: object  # where this process writes (a non-chief worker's: temp)


def built(model):
    """`model` called once on a dummy `(source, target)` batch, so that it
    has its weights."""
    dummy = keras.ops.ones((1, 2), "int32")
    model((dummy, dummy))
    return model


def fit(config, workdir, options, build, compile_model, buckets=None):
    """Data, model (in the strategy's scope) and `model.fit` via the
    harness; `build(config, source_vocab, target_vocab)` makes the model."""
    strategy = harness.setup(options)
    workdir = harness.prepare_workdir(workdir, config, options)
    start = time.perf_counter()
    run = prepare(config, workdir, options.seed, buckets=buckets)
    prepare_seconds = time.perf_counter() - start
    with strategy.scope():
        model = build(
            config,
            run.source_tokenizer.vocabulary_size,
            run.target_tokenizer.vocabulary_size,
        )
        compile_model(model, config, options.jit_compile)
    history, fit_seconds = harness.fit(
        model,
        run.stream,
        run.steps_per_epoch,
        config.epochs,
        workdir,
        options,
        validation_data=run.validation,
    )
    return Trained(
        model,
        run.splits,
        run.source_tokenizer,
        run.target_tokenizer,
        history,
        run.steps_per_epoch,
        prepare_seconds,
        fit_seconds,
        start,
        workdir,
    )


def report(trained, translator, config, workdir, extra):
    """Save the model and history, score the test split, print examples;
    returns the metrics (`extra` first), not yet written."""
    workdir = pathlib.Path(workdir)
    trained.model.save(workdir / "model.keras")
    harness.save_json(workdir / "history.json", trained.history)
    test, hypotheses = evaluate_translator(
        translator, trained.splits.test, config
    )
    history = trained.history
    metrics = {
        **extra,
        "data": config.data,
        "train_pairs": len(trained.splits.train),
        "test_pairs": len(trained.splits.test),
        "parameters": trained.model.count_params(),
        "epochs": config.epochs,
        "steps_per_epoch": trained.steps_per_epoch,
        "prepare_seconds": round(trained.prepare_seconds, 1),
        "train_seconds": round(trained.train_seconds, 1),
        "final_val_masked_accuracy": history.get("val_masked_accuracy", [None])[
            -1
        ],
        "test": test,
    }
    print("\nExample translations (test split, beam search):")
    examples = list(zip(trained.splits.test, hypotheses))
    for (source, reference), hypothesis in examples[: config.num_examples]:
        print(f"  source:     {source}\n  reference:  {reference}")
        print(f"  translated: {hypothesis}\n")
    return metrics


def finish(trained, metrics, workdir):
    """Add the total time and write metrics.json; returns the metrics."""
    metrics["total_seconds"] = round(time.perf_counter() - trained.start, 1)
    harness.save_json(pathlib.Path(workdir) / "metrics.json", metrics)
    return metrics


def load(workdir, config_class, translator_class, **translator_kwargs):
    """`(translator, config)` from a finished work directory."""
    from zoo.translation.data import get_tokenizers

    workdir = pathlib.Path(workdir)
    config = config_class(**harness.read_config(workdir)["config"])
    model = keras.saving.load_model(workdir / "model.keras")
    source, target = get_tokenizers(config, None, workdir)
    translator = translator_class(
        model, source, target, config, **translator_kwargs
    )
    return translator, config


def evaluate(translator, config, workdir):
    """Re-score a loaded translator on the test split; updates
    metrics.json."""
    return rescore(translator, config, workdir)


def translate(translator, config, workdir, sentences, beam_size=None):
    """Print translations (the config's beam size unless given) and save
    the attention plots of each translation printed, named after the
    sentence (`plots/translate_<slug>...png`)."""
    beam = beam_size or config.beam_size
    tokens, _ = translator.translate_ids(list(sentences), beam_size=beam)
    detokenize = translator.target_tokenizer.detokenize
    outputs = [detokenize(row) for row in tokens]
    plots = pathlib.Path(workdir) / "plots"
    for sentence, output, row in zip(sentences, outputs, tokens):
        print(f"{sentence}\n  -> {output}")
        paths = translator.plot_translation(
            sentence, row, plots, f"translate_{plot_slug(sentence)}"
        )
        if paths:
            print(f"  attention plots: {', '.join(map(str, paths))}")
    return outputs
