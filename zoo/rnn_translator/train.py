"""`train(config, workdir, options)`, `evaluate(workdir)`, `translate(...)`
for the RNN translator, on the translators' shared path
(`zoo.translation.run`)."""

import pathlib

from zoo.rnn_translator.config import Config
from zoo.rnn_translator.decode import Translator
from zoo.rnn_translator.model import build
from zoo.rnn_translator.model import compile_model
from zoo.translation import run


def train(config, workdir, options):
    """Train, save and score an RNN translator; returns the metrics."""
    trained = run.fit(config, workdir, options, build, compile_model)
    workdir = trained.workdir  # a non-chief worker writes elsewhere
    translator = Translator(
        trained.model,
        trained.source_tokenizer,
        trained.target_tokenizer,
        config,
    )
    extra = {"model": "rnn-translator", "variant": config.variant}
    metrics = run.report(trained, translator, config, workdir, extra)
    if trained.splits.test:
        sentence = trained.splits.test[0][0]
        plots = pathlib.Path(workdir) / "plots"
        translator.plot_translation(sentence, None, plots, "alignment")
    return run.finish(trained, metrics, workdir)


def load(workdir):
    """`(translator, config)` from a finished work directory."""
    return run.load(workdir, Config, Translator)


def evaluate(workdir):
    """Re-score the saved model on the test split; updates metrics.json."""
    return run.evaluate(*load(workdir), workdir)


def translate(workdir, sentences, beam_size=None):
    """Print translations; save the alignment plot of each translation
    printed as `plots/translate_<sentence slug>.png`."""
    translator, config = load(workdir)
    return run.translate(translator, config, workdir, sentences, beam_size)


__all__ = ["evaluate", "load", "train", "translate"]
