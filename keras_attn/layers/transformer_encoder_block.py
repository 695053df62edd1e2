import keras

from keras_attn.layers._residual import residual
from keras_attn.layers._utils import FlagDependentOutputs
from keras_attn.layers._validation import check_positive_float
from keras_attn.layers._validation import check_positive_int
from keras_attn.layers._validation import check_rate
from keras_attn.layers.feed_forward import FeedForward
from keras_attn.layers.multi_head_attention import MultiHeadAttention


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
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.intermediate_dim = check_positive_int(
            "intermediate_dim", intermediate_dim
        )
        self.dropout = check_rate("dropout", dropout)
        self.activation = keras.activations.get(activation)
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
            name="self_attention",
            **init,
        )
        self.feed_forward = FeedForward(
            intermediate_dim, activation=activation, name="feed_forward", **init
        )
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

    def _layer_norm(self, name):
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
                "activation": keras.activations.serialize(self.activation),
                "norm_first": self.norm_first,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "key_dim": self.key_dim,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(
                    self.bias_initializer
                ),
            }
        )
        return config
