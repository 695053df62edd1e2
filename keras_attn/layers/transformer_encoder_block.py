import keras

from keras_attn.layers._residual import residual
from keras_attn.layers._utils import FlagDependentOutputs
from keras_attn.layers._validation import check_positive_float
from keras_attn.layers._validation import check_positive_int
from keras_attn.layers._validation import check_rate
from keras_attn.layers.feed_forward import FeedForward
from keras_attn.layers.multi_head_attention import MultiHeadAttention
from keras_attn.layers.relative_position_bias import RelativePositionBias


@keras.saving.register_keras_serializable(package="keras_attn")
class TransformerEncoderBlock(FlagDependentOutputs, keras.layers.Layer):
    """One Transformer encoder layer: self-attention, then feed-forward.

    Post-norm (the paper, BERT): `x = LN(x + Drop(MHA(x)))`,
    `x = LN(x + Drop(FFN(x)))`. Pre-norm (`norm_first=True`, more stable
    for deep stacks): `x = x + Drop(MHA(LN(x)))`, `x = x + Drop(FFN(LN(x)))`.
    `dropout` applies to the attention weights and to both residual
    branches.

    Masking: the padding mask `(B, T)` comes from the input's Keras mask
    (auto-filled `mask`) or is passed explicitly; padded keys get weight 0
    and the outputs at real positions do not depend on padded ones.
    `attention_mask` `(B, T, T)` is merged with it.

    Args:
        num_heads: N.
        intermediate_dim: feed-forward hidden width.
        dropout: dropout rate.
        activation: feed-forward activation.
        norm_first: pre-norm instead of post-norm.
        layer_norm_epsilon: LayerNorm epsilon.
        key_dim: per-head depth; defaults to `D // num_heads`.
        kernel_initializer, bias_initializer: initializers.
        normalization: `"layer_norm"` (the paper) or `"rms_norm"`
            (Zhang & Sennrich 2019; Llama, Gemma, Mistral).
        use_bias: biases in the attention and feed-forward projections
            (False in Llama-style models).
        num_key_value_heads, rotary_embedding, position_bias,
            sliding_window, qk_norm, logit_soft_cap, use_sinks,
            memory_efficient: of the self-attention, see
            `MultiHeadAttention`. `position_bias="relative"` creates a
            T5 `RelativePositionBias` (in a `TransformerEncoder` /
            `TransformerDecoder`, one shared by every block, as in T5).

    A Llama-style block is a configuration: `norm_first=True,
    normalization="rms_norm", activation="swiglu", use_bias=False,
    num_key_value_heads=..., rotary_embedding=True` (Mistral adds
    `sliding_window`, Gemma 2 `logit_soft_cap`).

    Call arguments (B batch, T length, D model dim, N heads):
        inputs: `(B, T, D)`.
        mask: boolean `(B, T)` padding mask, True = real token.
        attention_mask: boolean `(B, T, T)`.
        return_attention_scores: also return weights `(B, N, T, T)`.
        training: dropout is applied only in training.

    Returns:
        `(B, T, D)`, and the attention weights on request.

    Example:
    >>> import numpy as np
    >>> block = TransformerEncoderBlock(num_heads=2, intermediate_dim=16)
    >>> tuple(block(np.ones((2, 3, 8))).shape)
    (2, 3, 8)

    Reference:
        Vaswani et al., "Attention Is All You Need", NeurIPS 2017, §3.1;
        Xiong et al., "On Layer Normalization in the Transformer
        Architecture", ICML 2020 (pre-norm).
    """

    def __init__(
        self,
        num_heads,
        intermediate_dim,
        dropout=0.0,
        activation="relu",
        norm_first=False,
        layer_norm_epsilon=1e-5,
        key_dim=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        normalization="layer_norm",
        use_bias=True,
        num_key_value_heads=None,
        rotary_embedding=None,
        position_bias=None,
        sliding_window=None,
        qk_norm=False,
        logit_soft_cap=None,
        use_sinks=False,
        memory_efficient=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if normalization not in ("layer_norm", "rms_norm"):
            raise ValueError(
                "`normalization` must be 'layer_norm' or 'rms_norm'. "
                f"Received: normalization={normalization!r}"
            )
        self.normalization = normalization
        self.use_bias = bool(use_bias)
        if position_bias == "relative":
            position_bias = RelativePositionBias(
                num_heads,
                bidirectional=self._bidirectional,
                dtype=self.dtype_policy,
                name="relative_position_bias",
            )
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.intermediate_dim = check_positive_int(
            "intermediate_dim", intermediate_dim
        )
        self.dropout = check_rate("dropout", dropout)
        self.norm_first = bool(norm_first)
        self.layer_norm_epsilon = check_positive_float(
            "layer_norm_epsilon", layer_norm_epsilon
        )
        self.key_dim = check_positive_int("key_dim", key_dim, allow_none=True)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        init = {
            "kernel_initializer": keras.initializers.serialize(
                self.kernel_initializer
            ),
            "bias_initializer": keras.initializers.serialize(
                self.bias_initializer
            ),
            "dtype": self.dtype_policy,
        }
        self.self_attention = MultiHeadAttention(
            num_heads,
            key_dim=key_dim,
            dropout=dropout,
            use_bias=self.use_bias,
            num_key_value_heads=num_key_value_heads,
            rotary_embedding=rotary_embedding,
            position_bias=position_bias,
            sliding_window=sliding_window,
            qk_norm=qk_norm,
            logit_soft_cap=logit_soft_cap,
            use_sinks=use_sinks,
            memory_efficient=memory_efficient,
            name="self_attention",
            **init,
        )
        self.feed_forward = FeedForward(
            intermediate_dim,
            activation=activation,
            use_bias=self.use_bias,
            name="feed_forward",
            **init,
        )
        self.activation = self.feed_forward.activation
        self.self_attention_layer_norm = self._layer_norm(
            "self_attention_layer_norm"
        )
        self.feed_forward_layer_norm = self._layer_norm(
            "feed_forward_layer_norm"
        )
        self.self_attention_dropout = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="self_attention_dropout"
        )
        self.feed_forward_dropout = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="feed_forward_dropout"
        )
        self.supports_masking = True

    # Relative position buckets of a self-attention that sees both ways.
    _bidirectional = True

    def _layer_norm(self, name):
        if self.normalization == "rms_norm":
            return keras.layers.RMSNormalization(
                epsilon=self.layer_norm_epsilon,
                dtype=self.dtype_policy,
                name=name,
            )
        return keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name
        )

    def build(self, inputs_shape):
        self.self_attention.build(inputs_shape)
        self.feed_forward.build(inputs_shape)
        self.self_attention_layer_norm.build(inputs_shape)
        self.feed_forward_layer_norm.build(inputs_shape)

    def call(
        self,
        inputs,
        mask=None,
        attention_mask=None,
        return_attention_scores=False,
        training=None,
    ):
        def attend(x):
            out = self.self_attention(
                x,
                query_mask=mask,
                attention_mask=attention_mask,
                return_attention_scores=return_attention_scores,
                training=training,
            )
            return out if return_attention_scores else (out,)

        x, extras = residual(
            inputs,
            attend,
            self.self_attention_layer_norm,
            self.self_attention_dropout,
            self.norm_first,
            training,
        )
        x = self._feed_forward_residual(x, training)
        if return_attention_scores:
            return x, extras[0]
        return x

    def _feed_forward_residual(self, x, training):
        x, _ = residual(
            x,
            lambda h: (self.feed_forward(h, training=training),),
            self.feed_forward_layer_norm,
            self.feed_forward_dropout,
            self.norm_first,
            training,
        )
        return x

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout,
                "activation": self.feed_forward.get_config()["activation"],
                "norm_first": self.norm_first,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "key_dim": self.key_dim,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(
                    self.bias_initializer
                ),
                "normalization": self.normalization,
                "use_bias": self.use_bias,
            }
        )
        attention = self.self_attention.get_config()
        for name in _ATTENTION_OPTIONS:
            config[name] = attention[name]
        return config


# Self-attention options a block passes to its `MultiHeadAttention`.
_ATTENTION_OPTIONS = (
    "num_key_value_heads",
    "rotary_embedding",
    "position_bias",
    "sliding_window",
    "qk_norm",
    "logit_soft_cap",
    "use_sinks",
    "memory_efficient",
)
