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


class FlagDependentOutputs:
    """Mixin: trace `call` for the symbolic output spec when a call flag
    changes the outputs' structure.

    Keras builds the symbolic output of a layer that defines
    `compute_output_shape` from that method alone, which cannot see call
    flags such as `return_attention_scores` or a KV `cache`; with any of
    `_structure_flags` set, the spec is traced from `call` instead.
    """

    _structure_flags = ("return_attention_scores", "cache", "reverse")

    def compute_output_spec(self, *args, **kwargs):
        if any(
            kwargs.get(f) not in (None, False) for f in self._structure_flags
        ):
            return keras.Operation.compute_output_spec(self, *args, **kwargs)
        return super().compute_output_spec(*args, **kwargs)
