"""`train(config, workdir, options)`, `evaluate(workdir)`, `translate(...)`."""

import pathlib
import time

import keras

from zoo import harness
from zoo import translation as data
from zoo.rnn_translator.config import Config
from zoo.rnn_translator.decode import Translator
from zoo.rnn_translator.model import build
from zoo.rnn_translator.model import compile_model
from zoo.translation import evaluate_translator


def train(config, workdir, options):
    """Train, save and score an RNN translator; returns the metrics."""
    strategy = harness.setup(options)
    workdir = harness.prepare_workdir(workdir, config, options)
    start = time.perf_counter()
    run = data.prepare(config, workdir, options.seed)
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
    model.save(workdir / "model.keras")
    harness.save_json(workdir / "history.json", history)
    translator = Translator(model, source_tok, target_tok, config)
    test, hypotheses = evaluate_translator(translator, splits.test, config)
    metrics = {
        "model": "rnn-translator",
        "variant": config.variant,
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
        "test": test,
        "total_seconds": round(time.perf_counter() - start, 1),
    }
    harness.save_json(workdir / "metrics.json", metrics)
    print("\nExample translations (test split, beam search):")
    for (source, reference), hypothesis in list(zip(splits.test, hypotheses))[
        : config.num_examples
    ]:
        print(f"  source:     {source}\n  reference:  {reference}")
        print(f"  translated: {hypothesis}\n")
    if config.variant == "attention" and splits.test:
        translator.plot_alignment(
            splits.test[0][0], workdir / "plots" / "alignment.png"
        )
    return metrics


def load(workdir):
    """`(translator, config)` from a finished work directory."""
    workdir = pathlib.Path(workdir)
    record = harness.read_config(workdir)
    config = Config(**record["config"])
    model = keras.saving.load_model(workdir / "model.keras")
    source_tok, target_tok = data.get_tokenizers(config, None, workdir)
    return Translator(model, source_tok, target_tok, config), config


def evaluate(workdir):
    """Re-score the saved model on the test split; updates metrics.json."""
    translator, config = load(workdir)
    return data.rescore(translator, config, workdir)


def translate(workdir, sentences, beam_size=None):
    """Print translations; save the alignment plot of each translation
    printed as `plots/translate_<sentence slug>.png`."""
    translator, config = load(workdir)
    beam = beam_size or config.beam_size
    tokens, _ = translator.translate_ids(list(sentences), beam_size=beam)
    outputs = [translator.target_tokenizer.detokenize(row) for row in tokens]
    plots = pathlib.Path(workdir) / "plots"
    for sentence, output, row in zip(sentences, outputs, tokens):
        print(f"{sentence}\n  -> {output}")
        if config.variant == "attention":
            path = plots / f"translate_{data.plot_slug(sentence)}.png"
            translator.plot_alignment(sentence, path, tokens=row)
            print(f"  alignment plot: {path}")
    return outputs


__all__ = ["evaluate", "load", "train", "translate"]
