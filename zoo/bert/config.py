"""Config checks shared by the `bert-mlm` and `bert-classifier` configs.

Both configs carry the same architecture fields (`ARCHITECTURE_FIELDS`);
a classifier fine-tuned from a pretraining run takes them from that run.
"""

import keras

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


def check_positive_ints(config, names):
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            _fail(name, value, "a positive integer")


def check_non_negative_ints(config, names):
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            _fail(name, value, "a non-negative integer")


def check_rates(config, names, low=0.0, high=1.0):
    """Each field a number in `[low, high)`."""
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _fail(name, value, f"a number in [{low}, {high})")
        if not low <= value < high:
            _fail(name, value, f"a number in [{low}, {high})")


def check_positive_numbers(config, names):
    for name in names:
        value = getattr(config, name)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or value <= 0
        ):
            _fail(name, value, "a positive number")


def check_choice(config, name, choices):
    value = getattr(config, name)
    if value not in choices:
        _fail(name, value, f"one of {list(choices)}")


def check_architecture(config):
    """The architecture fields every BERT config shares."""
    check_positive_ints(config, ARCHITECTURE_FIELDS[:-2])
    check_rates(config, ["dropout"])
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
