"""The zoo's models: CLI name -> package.

Every model package has the same skeleton (see zoo/README.md):

    config.py   a frozen dataclass `Config` and `PRESETS = {"tiny", "cpu",
                "gpu"}` of named configs
    data.py     the model's tf.data input pipeline
    model.py    the Keras model, built from keras_attn layers
    train.py    `train(config, workdir, options) -> metrics` and
                `evaluate(workdir) -> metrics`

and exposes `Config`, `PRESETS`, `train`, `evaluate` from its __init__.
"""

import importlib

MODELS = {
    "rnn-translator": "zoo.rnn_translator",
    "transformer": "zoo.transformer_translator",
    "bert-mlm": "zoo.bert_mlm",
    "bert-classifier": "zoo.bert_classifier",
    "se-resnet": "zoo.se_resnet",
    "sagan": "zoo.sagan",
}


def available():
    """Names whose package is present in this checkout."""
    names = []
    for name, module in MODELS.items():
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name and module.startswith(error.name):
                continue
            if error.name == module:
                continue
            raise
        names.append(name)
    return names


def get(name):
    """The model package for a CLI name."""
    if name not in MODELS:
        raise ValueError(
            f"`model` must be one of {sorted(MODELS)}. Received: model={name!r}"
        )
    return importlib.import_module(MODELS[name])
