"""The zoo's models: CLI name -> package, imported only when used.

Every model package has the same skeleton (zoo/README.md states it and
tests/zoo/test_layout.py enforces it): `config.py` (a frozen dataclass
`Config` and `PRESETS = {"tiny", "cpu", "gpu"}`), `model.py` (the Keras
model, built from keras_attn layers), `train.py` (`train(config, workdir,
options) -> metrics` and `evaluate(workdir) -> metrics`) and, for models
that generate text, `decode.py`; its data comes from `zoo/data/`. The
package exposes `Config`, `PRESETS`, `train`, `evaluate` from its
`__init__`.

Listing the models imports nothing (`python -m zoo --help` stays fast);
`get(name)` and `presets(name)` import that one model's package,
TensorFlow included.
"""

import importlib
import importlib.util

from zoo.config_utils import UsageError

MODELS = {
    "rnn-translator": "zoo.rnn_translator",
    "transformer": "zoo.transformer_translator",
    "bert-mlm": "zoo.bert_mlm",
    "bert-classifier": "zoo.bert_classifier",
    "se-resnet": "zoo.se_resnet",
    "sagan": "zoo.sagan",
    "gpt": "zoo.gpt",
}

SUMMARIES = {  # one line each in `python -m zoo --help`
    "rnn-translator": "RNN translator: plain, peeky or attention (Tatoeba "
    "en-ja)",
    "transformer": "Transformer translator, greedy/beam decoding (Tatoeba "
    "en-ja)",
    "bert-mlm": "BERT masked-LM pretraining (Tatoeba English + VADER)",
    "bert-classifier": "BERT sentiment classifier, --init <bert-mlm "
    "workdir> (VADER)",
    "se-resnet": "SE-ResNet image classifier (Fashion-MNIST)",
    "sagan": "conditional SAGAN (Fashion-MNIST; needs a se-resnet run)",
    "gpt": "GPT language model, gpt2 or modern block (Jane Austen)",
}


def available():
    """Names whose package is present in this checkout (imports none)."""
    return [
        name
        for name, module in MODELS.items()
        if importlib.util.find_spec(module) is not None
    ]


def _module(name):
    if name not in MODELS:
        raise UsageError(
            f"`model` must be one of {', '.join(MODELS)}. "
            f"Received: model={name!r}"
        )
    return MODELS[name]


def presets(name):
    """`{preset name: Config}` of a model."""
    return get(name).PRESETS


def get(name):
    """The model package for a CLI name."""
    return importlib.import_module(_module(name))
