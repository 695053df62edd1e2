"""Config checks shared by the `bert-mlm` and `bert-classifier` configs.

Both configs carry the same architecture fields (`ARCHITECTURE_FIELDS`);
a classifier fine-tuned from a pretraining run takes them from that run.
Field types and simple ranges are checked by `zoo.config_utils.check_fields`
(`check_architecture` calls it with the architecture's rules); this module
adds the checks that need Keras or relate two fields.
"""

import keras

from zoo.config_utils import check_fields

ARCHITECTURE_FIELDS = (
    "max_length",
    "num_layers",
    "num_heads",
    "hidden_dim",
    "intermediate_dim",
    "dropout",
    "kernel_initializer",
)


def _fail(name, value, what):
    raise ValueError(f"`{name}` must be {what}. Received: {name}={value!r}")


def check_architecture(config, positive=(), **rules):
    """`check_fields` with the architecture's rules added, then the checks
    that need Keras (the initializer) or two fields (heads divide D)."""
    check_fields(
        config,
        positive=(*ARCHITECTURE_FIELDS[:-2], *positive),
        fractions=("dropout", *rules.pop("fractions", ())),
        **rules,
    )
    try:
        keras.initializers.get(config.kernel_initializer)
    except ValueError:
        _fail(
            "kernel_initializer",
            config.kernel_initializer,
            "a Keras initializer name",
        )
    if config.max_length < 4:
        _fail("max_length", config.max_length, "at least 4")
    if config.hidden_dim % config.num_heads:
        raise ValueError(
            "`hidden_dim` must be divisible by `num_heads`. Received: "
            f"hidden_dim={config.hidden_dim}, num_heads={config.num_heads}"
        )


def architecture(config):
    """The architecture fields of a config, as a dict."""
    return {name: getattr(config, name) for name in ARCHITECTURE_FIELDS}
