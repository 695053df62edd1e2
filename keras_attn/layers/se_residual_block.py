import keras
from keras import ops

from keras_attn.layers._utils import clone_initializer
from keras_attn.layers._utils import resolve_data_format
from keras_attn.layers._validation import check_positive_int
from keras_attn.layers.squeeze_excite import SqueezeExcite


@keras.saving.register_keras_serializable(package="keras_attn")
class SEResidualBlock(keras.layers.Layer):
    """SE-ResNet basic block: a residual branch recalibrated by SE.

        r = BN(conv3x3(relu(BN(conv3x3_stride(x)))))    # residual branch
        y = relu(SqueezeExcite(r) + shortcut(x))

    The shortcut is the identity, or `BN(conv1x1_stride(x))` (a projection)
    when `strides != 1` or the channel count changes. This is the basic
    (two 3×3 convolutions) variant of Fig. 3 of the paper; SE is applied to
    the residual branch before the addition.

    Args:
        filters: positive int, output channels.
        strides: positive int, stride of the first convolution and of the
            projection shortcut.
        ratio: positive int, SE reduction ratio.
        data_format: `"channels_last"`, `"channels_first"`, or None for
            `keras.config.image_data_format()`.
        kernel_initializer: initializer for the convolution kernels.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: `(B, H, W, C)` (channels last).
        training: batch-norm mode.

    Returns:
        `(B, ceil(H / strides), ceil(W / strides), filters)`.

    Example:
    >>> import numpy as np
    >>> x = np.ones((2, 6, 4, 8), "float32")
    >>> tuple(SEResidualBlock(16, strides=2, ratio=4)(x).shape)
    (2, 3, 2, 16)

    Reference:
        Hu, Shen, Sun, "Squeeze-and-Excitation Networks", CVPR 2018, Fig. 3;
        He et al., "Deep Residual Learning for Image Recognition", CVPR 2016.
    """

    def __init__(
        self,
        filters,
        strides=1,
        ratio=16,
        data_format=None,
        kernel_initializer="he_normal",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        self.strides = check_positive_int("strides", strides)
        self.ratio = check_positive_int("ratio", ratio)
        self.data_format = resolve_data_format(data_format)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        channel_axis = -1 if self.data_format == "channels_last" else 1
        self.conv_1 = self._conv(3, strides, "conv_1")
        self.norm_1 = self._norm(channel_axis, "norm_1")
        self.conv_2 = self._conv(3, 1, "conv_2")
        self.norm_2 = self._norm(channel_axis, "norm_2")
        self.squeeze_excite = SqueezeExcite(
            ratio,
            data_format=self.data_format,
            dtype=self.dtype_policy,
            name="squeeze_excite",
        )

    def _conv(self, kernel_size, strides, name):
        return keras.layers.Conv2D(
            self.filters,
            kernel_size,
            strides=strides,
            padding="same",
            use_bias=False,
            data_format=self.data_format,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            dtype=self.dtype_policy,
            name=name,
        )

    def _norm(self, axis, name):
        return keras.layers.BatchNormalization(
            axis=axis, dtype=self.dtype_policy, name=name
        )

    def build(self, inputs_shape):
        channel_axis = -1 if self.data_format == "channels_last" else 1
        self.conv_1.build(inputs_shape)
        hidden_shape = self.conv_1.compute_output_shape(inputs_shape)
        self.norm_1.build(hidden_shape)
        self.conv_2.build(hidden_shape)
        self.norm_2.build(hidden_shape)
        self.squeeze_excite.build(hidden_shape)
        self.shortcut_conv = None
        if self.strides != 1 or inputs_shape[channel_axis] != self.filters:
            self.shortcut_conv = self._conv(1, self.strides, "shortcut_conv")
            self.shortcut_conv.build(inputs_shape)
            self.shortcut_norm = self._norm(channel_axis, "shortcut_norm")
            self.shortcut_norm.build(hidden_shape)

    def call(self, inputs, training=None):
        x = self.norm_1(self.conv_1(inputs), training=training)
        x = ops.relu(x)
        x = self.norm_2(self.conv_2(x), training=training)
        x = self.squeeze_excite(x)  # (B, H', W', filters)
        shortcut = inputs
        if self.shortcut_conv is not None:
            shortcut = self.shortcut_conv(inputs)
            shortcut = self.shortcut_norm(shortcut, training=training)
        return ops.relu(x + shortcut)

    def compute_output_shape(self, inputs_shape):
        return self.conv_1.compute_output_shape(inputs_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "strides": self.strides,
                "ratio": self.ratio,
                "data_format": self.data_format,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
            }
        )
        return config
