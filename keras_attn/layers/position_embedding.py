import keras
from keras import ops

from keras_attn.layers._validation import check_positive_int
from keras_attn.layers._validation import static_int_scalar


@keras.saving.register_keras_serializable(package="keras_attn")
class PositionEmbedding(keras.layers.Layer):
    """Learned absolute position embeddings.

    A trainable table `P` of shape `(max_length, D)`; for inputs `(B, T, D)`
    returns `P[start_index : start_index + T]` broadcast to the input shape,
    to be added to the token embeddings (as in BERT and GPT).

    Masking: the input's Keras mask is passed through.

    Bounds: a Python or eager integer `start_index` must satisfy
    `0 <= start_index` and `start_index + T <= max_length`, otherwise a
    `ValueError` names it. A traced `start_index` (inside `tf.function`,
    `jax.jit` or a compiled model) cannot be checked in Python, so the
    backend's slice decides: TensorFlow (graph or XLA) raises
    `InvalidArgumentError` at run time, while `jax.jit` silently clamps the
    start into `[0, max_length - T]` (`lax.dynamic_slice` semantics). Check
    the index before tracing when it can run past the table. The PyTorch
    backend runs eagerly and always gets the `ValueError`.

    Args:
        max_length: the longest sequence the table covers.
        initializer: initializer of the table.

    Call arguments:
        inputs: `(B, T, D)`.
        start_index: non-negative int or integer scalar tensor, the
            position of the first input step (decoding with a KV cache).

    Returns:
        `(B, T, D)` position embeddings.

    Example:
    >>> import numpy as np
    >>> tuple(PositionEmbedding(max_length=10)(np.zeros((2, 3, 4))).shape)
    (2, 3, 4)

    Reference:
        Gehring et al., "Convolutional Sequence to Sequence Learning", 2017;
        Devlin et al., "BERT", NAACL 2019.
    """

    def __init__(self, max_length, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.max_length = check_positive_int("max_length", max_length)
        self.initializer = keras.initializers.get(initializer)
        self.supports_masking = True

    def build(self, inputs_shape):
        self.position_embeddings = self.add_weight(
            name="embeddings",
            shape=(self.max_length, inputs_shape[-1]),
            initializer=self.initializer,
        )

    def call(self, inputs, start_index=0):
        length = inputs.shape[-2]
        if length is not None and length > self.max_length:
            raise ValueError(
                "The input is longer than `max_length`. Received: "
                f"max_length={self.max_length}, inputs.shape="
                f"{tuple(inputs.shape)}"
            )
        index = static_int_scalar("start_index", start_index)
        if index is not None and (
            index < 0 or index + (length or 0) > self.max_length
        ):
            raise ValueError(
                "`start_index` must be in [0, max_length - T] so that the "
                "positions fit in the table. Received: "
                f"start_index={index}, inputs.shape={tuple(inputs.shape)}, "
                f"max_length={self.max_length}"
            )
        shape = ops.shape(inputs)
        table = ops.slice(
            ops.convert_to_tensor(self.position_embeddings),
            [start_index, 0],
            [shape[-2], inputs.shape[-1]],
        )  # (T, D)
        return ops.broadcast_to(table, shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "max_length": self.max_length,
                "initializer": keras.initializers.serialize(self.initializer),
            }
        )
        return config
