import keras
from keras import ops

from keras_attn.layers._utils import clone_initializer
from keras_attn.layers._utils import resolve_data_format
from keras_attn.layers._validation import check_positive_int
from keras_attn.ops.masks import check_mask


@keras.saving.register_keras_serializable(package="keras_attn")
class SqueezeExcite(keras.layers.Layer):
    """Squeeze-and-Excitation channel attention.

    Rescales each channel by a gate computed from the whole feature map:

        z = mean over positions of x                       # squeeze, (B, C)
        s = sigmoid(W_2 relu(W_1 z + b_1) + b_2)           # excite, (B, C)
        y = x · s                                           # per channel

    with `W_1: C → max(1, C // ratio)` and `W_2: → C`.

    Works on 2-D feature maps `(B, H, W, C)` and 1-D sequences `(B, L, C)`
    (channels first: `(B, C, H, W)` / `(B, C, L)`).

    Masking: a Keras mask or an explicit boolean `mask` over the positions,
    `(B, L)` for sequences or `(B, H, W)` for feature maps (True = real
    position), restricts the squeeze average to the real positions, so
    padding does not change the gate; every position is still rescaled,
    and the mask passes through. A fully masked sample gets the gate of a
    zero average. A non-boolean mask, or one whose shape is not the
    positions' shape, raises a `ValueError`.

    Args:
        ratio: positive int, channel reduction ratio r of the bottleneck.
        data_format: `"channels_last"`, `"channels_first"`, or None for
            `keras.config.image_data_format()`.
        kernel_initializer: initializer for both dense kernels.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: `(B, H, W, C)` or `(B, L, C)` (channels last).
        mask: optional boolean `(B, L)` for sequences, `(B, H, W)` for
            feature maps.

    Returns:
        The rescaled inputs, same shape.

    Example:
    >>> import numpy as np
    >>> x = np.ones((2, 3, 5, 32), "float32")
    >>> tuple(SqueezeExcite(ratio=16)(x).shape)
    (2, 3, 5, 32)

    Reference:
        Hu, Shen, Sun, "Squeeze-and-Excitation Networks", CVPR 2018
        (Fig. 2, eq. 2-4).
    """

    def __init__(
        self,
        ratio=16,
        data_format=None,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.ratio = check_positive_int("ratio", ratio)
        self.data_format = resolve_data_format(data_format)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.supports_masking = True

    @property
    def _channel_axis(self):
        return -1 if self.data_format == "channels_last" else 1

    def build(self, inputs_shape):
        if len(inputs_shape) not in (3, 4):
            raise ValueError(
                "`inputs` must be a sequence (B, L, C) or a feature map "
                f"(B, H, W, C). Received: inputs.shape={tuple(inputs_shape)}"
            )
        channels = inputs_shape[self._channel_axis]
        self.squeeze_dense = keras.layers.Dense(
            max(1, channels // self.ratio),
            activation="relu",
            kernel_initializer=clone_initializer(self.kernel_initializer),
            dtype=self.dtype_policy,
            name="squeeze_dense",
        )
        self.squeeze_dense.build((None, channels))
        self.excite_dense = keras.layers.Dense(
            channels,
            activation="sigmoid",
            kernel_initializer=clone_initializer(self.kernel_initializer),
            dtype=self.dtype_policy,
            name="excite_dense",
        )
        self.excite_dense.build((None, self.squeeze_dense.units))

    def call(self, inputs, mask=None):
        rank = len(inputs.shape)
        if self.data_format == "channels_last":
            axes = tuple(range(1, rank - 1))
        else:
            axes = tuple(range(2, rank))
        if mask is not None:
            mask = self._check_mask(mask, inputs.shape)
            weights = ops.cast(mask, inputs.dtype)  # (B, L) or (B, H, W)
            weights = ops.expand_dims(weights, self._channel_axis)
            total = ops.sum(inputs * weights, axis=axes)  # (B, C)
            count = ops.maximum(ops.sum(weights, axis=axes), 1.0)  # (B, 1)
            squeezed = total / count  # (B, C)
        else:
            squeezed = ops.mean(inputs, axis=axes)  # (B, C)
        gate = self.excite_dense(self.squeeze_dense(squeezed))  # (B, C)
        for axis in axes:
            gate = ops.expand_dims(gate, axis)  # broadcast over positions
        return inputs * gate

    def _check_mask(self, mask, inputs_shape):
        """A boolean mask over the positions of `inputs`, or ValueError."""
        mask = check_mask(mask, "mask")  # boolean, or ValueError
        positions = list(inputs_shape)
        del positions[self._channel_axis]  # (B, L) or (B, H, W)
        shape = tuple(mask.shape)
        if len(shape) != len(positions) or any(
            m is not None and p is not None and m != p
            for m, p in zip(shape, positions)
        ):
            raise ValueError(
                "`mask` must cover the positions of `inputs`, shape "
                f"{tuple(positions)} ({self.data_format}). Received: "
                f"mask.shape={shape}, inputs.shape={tuple(inputs_shape)}"
            )
        return mask

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "ratio": self.ratio,
                "data_format": self.data_format,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
            }
        )
        return config
