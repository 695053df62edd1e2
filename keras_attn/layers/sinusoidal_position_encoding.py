import keras
from keras import ops

from keras_attn.layers._validation import check_positive_float


def sinusoid_table(length, depth, max_wavelength=10000.0, start_index=0):
    """The paper's table, `(length, depth)` float32, interleaved sin/cos.

    `PE[pos, 2i] = sin(pos / w^(2i/d))`, `PE[pos, 2i+1] = cos(pos / w^(2i/d))`
    with `w = max_wavelength`, `d = depth`, `pos = start_index + row`.
    """
    positions = ops.cast(ops.arange(length), "float32") + ops.cast(
        start_index, "float32"
    )  # (L,)
    dims = ops.arange(depth)  # (D,)
    even = ops.cast(dims - dims % 2, "float32")  # 2i for both 2i and 2i+1
    inv_freq = ops.power(
        ops.cast(max_wavelength, "float32"), -even / float(depth)
    )  # (D,)
    angles = positions[:, None] * inv_freq[None, :]  # (L, D)
    return ops.where(dims % 2 == 0, ops.sin(angles), ops.cos(angles))


@keras.saving.register_keras_serializable(package="keras_attn")
class SinusoidalPositionEncoding(keras.layers.Layer):
    """Fixed sinusoidal position encoding (no weights).

    Returns, for inputs `(B, T, D)`, the encoding `PE[start_index + t, :]`
    broadcast to the input shape, to be *added* to the embeddings:
    `PE[pos, 2i] = sin(pos / max_wavelength^(2i/D))` and
    `PE[pos, 2i+1] = cos(pos / max_wavelength^(2i/D))`.

    Masking: position encodings do not depend on padding; the input's Keras
    mask is passed through.

    Args:
        max_wavelength: the base of the geometric progression of
            wavelengths (10000 in the paper).

    Call arguments:
        inputs: `(B, T, D)` embeddings (only the shape and dtype are used).
        start_index: int or scalar tensor, position of the first step (for
            decoding with a KV cache).

    Returns:
        `(B, T, D)` encodings in the compute dtype.

    Example:
    >>> import numpy as np
    >>> pe = SinusoidalPositionEncoding()(np.zeros((1, 3, 4)))
    >>> [round(float(v), 3) for v in np.asarray(pe)[0, 1]]
    [0.841, 0.54, 0.01, 1.0]

    Reference:
        Vaswani et al., "Attention Is All You Need", NeurIPS 2017, §3.5.
    """

    def __init__(self, max_wavelength=10000.0, **kwargs):
        super().__init__(**kwargs)
        self.max_wavelength = check_positive_float(
            "max_wavelength", max_wavelength
        )
        self.supports_masking = True

    def call(self, inputs, start_index=0):
        shape = ops.shape(inputs)
        table = sinusoid_table(
            shape[-2], inputs.shape[-1], self.max_wavelength, start_index
        )  # (T, D)
        return ops.broadcast_to(ops.cast(table, self.compute_dtype), shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"max_wavelength": self.max_wavelength})
        return config
