"""`train(config, workdir, options)`, `evaluate(workdir)`, `translate(...)`
and `export(workdir)` for the Transformer translator."""

import pathlib

import keras
import numpy as np

from zoo.transformer_translator import export as export_lib
from zoo.transformer_translator.config import Config
from zoo.transformer_translator.decode import Translator
from zoo.transformer_translator.model import build
from zoo.transformer_translator.model import compile_model
from zoo.translation import evaluate_translator
from zoo.translation import languages
from zoo.translation import run


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


def _average_or_keep(trained, translator, config, workdir):
    """Average the last `average_last` checkpoints if that scores higher
    on the validation split; returns the record of the decision (or None).

    The test split is decoded for the kept weights by `run.report`; only
    if averaging wins is it decoded once more for the last checkpoint, so
    both can be reported."""
    if config.average_last <= 1:
        return None
    model, splits = trained.model, trained.splits
    final_weights = model.get_weights()
    final_bleu = _validation_bleu(translator, splits.validation, config)
    paths = [
        pathlib.Path(workdir) / "checkpoints" / f"epoch_{epoch:03d}.weights.h5"
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
    return averaging


def train(config, workdir, options):
    """Train, save, score and export a Transformer translator."""
    buckets = list(config.bucket_boundaries) or None
    trained = run.fit(config, workdir, options, build, compile_model, buckets)
    workdir = trained.workdir  # a non-chief worker writes elsewhere
    translator = Translator(
        trained.model,
        trained.source_tokenizer,
        trained.target_tokenizer,
        config,
    )
    averaging = _average_or_keep(trained, translator, config, workdir)
    extra = {"model": "transformer", "checkpoint_averaging": averaging}
    metrics = run.report(trained, translator, config, workdir, extra)
    if trained.splits.test:
        sentence = trained.splits.test[0][0]
        plots = pathlib.Path(workdir) / "plots"
        translator.plot_translation(sentence, None, plots, "cross")
    # The SavedModel is a TensorFlow graph: exported from TensorFlow runs.
    if languages(config)[0] != "ja" and keras.config.backend() == "tensorflow":
        export_lib.export(translator, pathlib.Path(workdir) / "export")
        metrics["export"] = str(pathlib.Path(workdir) / "export")
    return run.finish(trained, metrics, workdir)


def load(workdir, jit_compile=False, uncached=False):
    """`(translator, config)` from a finished work directory."""
    return run.load(
        workdir,
        Config,
        Translator,
        jit_compile=jit_compile,
        uncached=uncached,
    )


def evaluate(workdir):
    """Re-score the saved model on the test split; updates metrics.json."""
    return run.evaluate(*load(workdir), workdir)


def translate(workdir, sentences, beam_size=None):
    """Print translations; save every head's cross-attention of each
    translation printed as `plots/translate_<sentence slug>_layer<n>.png`."""
    translator, config = load(workdir)
    return run.translate(translator, config, workdir, sentences, beam_size)


def export(workdir, path=None):
    """Export the work directory's model as a SavedModel (see export.py)."""
    translator, _ = load(workdir)
    return export_lib.export(
        translator, path or pathlib.Path(workdir) / "export"
    )
