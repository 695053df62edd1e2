"""Small helpers shared by the layers."""

import keras

from keras_attn.layers._validation import check_choice


def clone_initializer(initializer):
    """A fresh initializer with the same config (one per weight/sublayer)."""
    initializer = keras.initializers.get(initializer)
    return initializer.__class__.from_config(initializer.get_config())


def resolve_data_format(data_format):
    """Validate `data_format`; None means the Keras config default."""
    if data_format is None:
        return keras.config.image_data_format()
    return check_choice(
        "data_format", data_format, ("channels_first", "channels_last")
    )
