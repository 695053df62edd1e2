import keras
from keras import ops

from keras_attn.layers._utils import FlagDependentOutputs
from keras_attn.layers._utils import clone_initializer
from keras_attn.layers._utils import resolve_data_format
from keras_attn.layers._validation import check_positive_int
from keras_attn.layers.spectral_normalization import SpectralNormalization
from keras_attn.ops.attention import scaled_dot_product_attention


@keras.saving.register_keras_serializable(package="keras_attn")
class SelfAttention2D(FlagDependentOutputs, keras.layers.Layer):
    """SAGAN self-attention block over the pixels of a feature map.

    With 1×1 convolutions g (queries) and f (keys) of `C // ratio`
    channels, h (values) of `value_dim` channels and v back to C:

        β = softmax(g(x) f(x)ᵀ)       # (B, H·W, keys), unscaled logits
        o = v(β h(x))                 # (B, H, W, C)
        y = γ · o + x                 # γ a learned scalar, initialised to 0

    so the block is the identity at initialisation. With `pool_keys`, keys
    and values are 2×2 max-pooled (as in the authors' code), giving
    `keys = (H // 2)·(W // 2)` instead of `H·W`. The map must then be at
    least 2×2: a smaller H or W raises a `ValueError` at build or call (a
    map whose size is unknown while tracing is not checked). The attention
    goes through `keras_attn.ops.scaled_dot_product_attention` with
    `scale=1.0`.

    With `use_spectral_norm`, every convolution is wrapped in
    `SpectralNormalization`; its `u` vectors are updated when
    `update_singular_vectors` is true (default: `training`).

    Masking: none; every pixel attends every (pooled) pixel.

    Args:
        ratio: positive int, channel reduction of the query/key convs (8 in
            the paper).
        value_dim: channels of the value conv h; defaults to `C // 2` as in
            the authors' code.
        pool_keys: 2×2 max-pool keys and values.
        use_spectral_norm: spectrally normalise the four convolutions.
        data_format: `"channels_last"`, `"channels_first"`, or None for
            `keras.config.image_data_format()`.
        kernel_initializer: initializer for the convolution kernels.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: `(B, H, W, C)` (channels last).
        return_attention_scores: also return the attention map.
        training: training mode.
        update_singular_vectors: spectral-norm update; None = `training`.

    Returns:
        `(B, H, W, C)`, and the map `(B, H·W, keys)` if requested.

    Example:
    >>> import numpy as np
    >>> x = np.ones((2, 4, 6, 16), "float32")
    >>> y, attn = SelfAttention2D(pool_keys=True)(
    ...     x, return_attention_scores=True)
    >>> tuple(y.shape), tuple(attn.shape)
    ((2, 4, 6, 16), (2, 24, 6))

    Reference:
        Zhang, Goodfellow, Metaxas, Odena, "Self-Attention Generative
        Adversarial Networks", ICML 2019, section 3.
    """

    def __init__(
        self,
        ratio=8,
        value_dim=None,
        pool_keys=False,
        use_spectral_norm=False,
        data_format=None,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.ratio = check_positive_int("ratio", ratio)
        self.value_dim = check_positive_int(
            "value_dim", value_dim, allow_none=True
        )
        self.pool_keys = bool(pool_keys)
        self.use_spectral_norm = bool(use_spectral_norm)
        self.data_format = resolve_data_format(data_format)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def _conv(self, filters, name):
        # Convolutions run channels last: `call` transposes once if needed.
        conv = keras.layers.Conv2D(
            filters,
            1,
            use_bias=False,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            data_format="channels_last",
            dtype=self.dtype_policy,
            name=name,
        )
        if self.use_spectral_norm:
            conv = SpectralNormalization(
                conv, dtype=self.dtype_policy, name=f"{name}_spectral_norm"
            )
        return conv

    def build(self, inputs_shape):
        if len(inputs_shape) != 4:
            raise ValueError(
                "`inputs` must be a feature map (B, H, W, C). Received: "
                f"inputs.shape={tuple(inputs_shape)}"
            )
        shape = tuple(inputs_shape)
        if self.data_format == "channels_first":
            shape = (shape[0], shape[2], shape[3], shape[1])
        self._check_pool_size(shape, inputs_shape)
        channels = shape[-1]
        key_dim = max(1, channels // self.ratio)
        value_dim = self.value_dim or max(1, channels // 2)
        self.query_conv = self._conv(key_dim, "query_conv")  # g
        self.key_conv = self._conv(key_dim, "key_conv")  # f
        self.value_conv = self._conv(value_dim, "value_conv")  # h
        self.output_conv = self._conv(channels, "output_conv")  # v
        for conv in (self.query_conv, self.key_conv, self.value_conv):
            conv.build(shape)
        self.output_conv.build(shape[:-1] + (value_dim,))
        self.gamma = self.add_weight(
            name="gamma", shape=(), initializer="zeros"
        )

    def _check_pool_size(self, shape, inputs_shape):
        """`shape` is channels last; 2×2 pooling needs H, W >= 2."""
        if not self.pool_keys:
            return
        if any(size is not None and size < 2 for size in shape[1:3]):
            raise ValueError(
                "`pool_keys=True` 2×2-pools the keys, so the feature map "
                "must be at least 2×2. Received: pool_keys=True, "
                f"inputs.shape={tuple(inputs_shape)} ({self.data_format})"
            )

    def _flatten(self, x):
        height, width = x.shape[1], x.shape[2]
        pixels = -1 if None in (height, width) else height * width
        return ops.reshape(x, (-1, pixels, x.shape[-1]))  # (B, H·W, c)

    def call(
        self,
        inputs,
        return_attention_scores=False,
        training=None,
        update_singular_vectors=None,
    ):
        conv_kwargs = {}
        if self.use_spectral_norm:
            conv_kwargs = {
                "training": training,
                "update_singular_vectors": update_singular_vectors,
            }
        x = inputs
        if self.data_format == "channels_first":
            x = ops.transpose(x, (0, 2, 3, 1))  # (B, H, W, C)
        self._check_pool_size(x.shape, inputs.shape)
        query = self.query_conv(x, **conv_kwargs)  # (B, H, W, C/r)
        key = self.key_conv(x, **conv_kwargs)  # (B, H, W, C/r)
        value = self.value_conv(x, **conv_kwargs)  # (B, H, W, Cv)
        if self.pool_keys:
            key = ops.max_pool(key, 2, 2, data_format="channels_last")
            value = ops.max_pool(value, 2, 2, data_format="channels_last")
        attended, scores = scaled_dot_product_attention(
            self._flatten(query),  # (B, H·W, C/r)
            self._flatten(key),  # (B, keys, C/r)
            self._flatten(value),  # (B, keys, Cv)
            scale=1.0,
            return_weights=True,
        )  # (B, H·W, Cv), (B, H·W, keys)
        attended = ops.reshape(
            attended, ops.shape(query)[:-1] + (attended.shape[-1],)
        )  # (B, H, W, Cv)
        attended = self.output_conv(attended, **conv_kwargs)  # (B, H, W, C)
        outputs = ops.cast(self.gamma, x.dtype) * attended + x
        if self.data_format == "channels_first":
            outputs = ops.transpose(outputs, (0, 3, 1, 2))  # (B, C, H, W)
        if return_attention_scores:
            return outputs, scores
        return outputs

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "ratio": self.ratio,
                "value_dim": self.value_dim,
                "pool_keys": self.pool_keys,
                "use_spectral_norm": self.use_spectral_norm,
                "data_format": self.data_format,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
            }
        )
        return config
