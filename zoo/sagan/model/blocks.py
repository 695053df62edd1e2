"""SAGAN building blocks: spectrally normalised residual blocks.

Every convolution and dense layer is wrapped in
`keras_attn.SpectralNormalization`. Each block forwards the call argument
`update_singular_vectors` to its wrappers, so the train step can update the
power-iteration vectors once per step however often a network runs.
"""

import keras
from keras import ops

import keras_attn


def spectral_conv(filters, kernel_size, name, use_bias=True):
    """A spectrally normalised, same-padded `Conv2D`."""
    conv = keras.layers.Conv2D(
        filters,
        kernel_size,
        padding="same",
        use_bias=use_bias,
        kernel_initializer="glorot_uniform",
        name=name,
    )
    return keras_attn.SpectralNormalization(conv, name=f"{name}_sn")


def spectral_dense(units, name, use_bias=True):
    """A spectrally normalised `Dense`."""
    dense = keras.layers.Dense(
        units, use_bias=use_bias, kernel_initializer="glorot_uniform", name=name
    )
    return keras_attn.SpectralNormalization(dense, name=f"{name}_sn")


def upsample(x):
    """Nearest-neighbour ×2: `(B, H, W, C)` → `(B, 2H, 2W, C)`."""
    return ops.repeat(ops.repeat(x, 2, axis=1), 2, axis=2)


def downsample(x):
    """2×2 average pool: `(B, H, W, C)` → `(B, H/2, W/2, C)`."""
    return ops.average_pool(x, 2, 2, padding="valid")


@keras.saving.register_keras_serializable(package="zoo")
class ConditionalBatchNorm(keras.layers.Layer):
    """BatchNorm whose scale and shift are looked up per class.

        y = (1 + γ[label]) · BN(x) + β[label]    # γ, β: (classes, C), init 0

    With `num_classes=0` it is a plain `BatchNormalization` (learned γ, β).

    Args:
        num_classes: int ≥ 0.

    Call arguments:
        inputs: `(B, H, W, C)`; labels: int `(B,)` (ignored if unconditional);
        training: batch-norm mode.
    """

    def __init__(self, num_classes=0, **kwargs):
        super().__init__(**kwargs)
        if num_classes < 0:
            raise ValueError(
                "`num_classes` must be >= 0. Received: "
                f"num_classes={num_classes}"
            )
        self.num_classes = num_classes
        conditional = num_classes > 0
        self.norm = keras.layers.BatchNormalization(
            center=not conditional, scale=not conditional, name="norm"
        )

    def build(self, inputs_shape):
        self.norm.build(inputs_shape)
        if self.num_classes:
            channels = inputs_shape[-1]
            self.gamma_embedding = keras.layers.Embedding(
                self.num_classes, channels, "zeros", name="gamma_embedding"
            )
            self.beta_embedding = keras.layers.Embedding(
                self.num_classes, channels, "zeros", name="beta_embedding"
            )
            self.gamma_embedding.build((None,))
            self.beta_embedding.build((None,))

    def call(self, inputs, labels=None, training=None):
        x = self.norm(inputs, training=training)
        if not self.num_classes:
            return x
        gamma = self.gamma_embedding(labels)[:, None, None, :]  # (B,1,1,C)
        beta = self.beta_embedding(labels)[:, None, None, :]  # (B,1,1,C)
        return (1.0 + gamma) * x + beta

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package="zoo")
class GeneratorBlock(keras.layers.Layer):
    """Up-sampling residual block of the generator (BigGAN/SAGAN style).

    h = conv3x3(relu(CBN(up(conv3x3(relu(CBN(x)))))))  # up before conv
    y = h + conv1x1(up(x))                              # (B, 2H, 2W, F)
    """

    def __init__(self, filters, num_classes=0, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.num_classes = num_classes
        self.norm_1 = ConditionalBatchNorm(num_classes, name="norm_1")
        self.conv_1 = spectral_conv(filters, 3, "conv_1")
        self.norm_2 = ConditionalBatchNorm(num_classes, name="norm_2")
        self.conv_2 = spectral_conv(filters, 3, "conv_2")
        self.shortcut = spectral_conv(filters, 1, "shortcut")

    def build(self, inputs_shape):
        batch, height, width, _ = inputs_shape
        up = (batch, 2 * height, 2 * width)
        self.norm_1.build(inputs_shape)
        self.conv_1.build(up + (inputs_shape[-1],))
        self.norm_2.build(up + (self.filters,))
        self.conv_2.build(up + (self.filters,))
        self.shortcut.build(up + (inputs_shape[-1],))

    def call(
        self, inputs, labels=None, training=None, update_singular_vectors=None
    ):
        sn = {
            "training": training,
            "update_singular_vectors": update_singular_vectors,
        }
        h = ops.relu(self.norm_1(inputs, labels, training=training))
        h = self.conv_1(upsample(h), **sn)  # (B, 2H, 2W, F)
        h = ops.relu(self.norm_2(h, labels, training=training))
        h = self.conv_2(h, **sn)  # (B, 2H, 2W, F)
        return h + self.shortcut(upsample(inputs), **sn)

    def compute_output_shape(self, inputs_shape):
        batch, height, width, _ = inputs_shape
        return (batch, 2 * height, 2 * width, self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "num_classes": self.num_classes,
        }


@keras.saving.register_keras_serializable(package="zoo")
class DiscriminatorBlock(keras.layers.Layer):
    """Residual block of the discriminator (no normalisation but SN).

        h = conv3x3(relu(conv3x3(a(x))))     # a = relu, or identity for
        y = pool(h) + shortcut(x)            #   the first ("optimized") block

    `pool` is a 2×2 average pool when `downsample`. The shortcut is the
    identity when the shape is unchanged, else a 1×1 conv (before the pool
    in pre-activation blocks, after it in the first block, as in the SNGAN
    and SAGAN code).
    """

    def __init__(self, filters, downsample=True, first=False, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.downsample = downsample
        self.first = first
        self.conv_1 = spectral_conv(filters, 3, "conv_1")
        self.conv_2 = spectral_conv(filters, 3, "conv_2")

    def build(self, inputs_shape):
        self.conv_1.build(inputs_shape)
        self.conv_2.build(tuple(inputs_shape[:-1]) + (self.filters,))
        self.shortcut = None
        if self.downsample or inputs_shape[-1] != self.filters:
            self.shortcut = spectral_conv(self.filters, 1, "shortcut")
            self.shortcut.build(inputs_shape)

    def call(self, inputs, training=None, update_singular_vectors=None):
        sn = {
            "training": training,
            "update_singular_vectors": update_singular_vectors,
        }
        h = inputs if self.first else ops.relu(inputs)
        h = self.conv_2(ops.relu(self.conv_1(h, **sn)), **sn)  # (B,H,W,F)
        shortcut = inputs
        if self.downsample:
            h = downsample(h)  # (B, H/2, W/2, F)
            if self.first:
                shortcut = downsample(shortcut)
        if self.shortcut is not None:
            shortcut = self.shortcut(shortcut, **sn)
            if self.downsample and not self.first:
                shortcut = downsample(shortcut)
        return h + shortcut

    def compute_output_shape(self, inputs_shape):
        batch, height, width, _ = inputs_shape
        if self.downsample:
            height, width = height // 2, width // 2
        return (batch, height, width, self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "downsample": self.downsample,
            "first": self.first,
        }
