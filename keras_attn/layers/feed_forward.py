import keras

from keras_attn.layers._utils import clone_initializer
from keras_attn.layers._validation import check_positive_int
from keras_attn.layers._validation import check_rate


def _gelu_tanh(x):
    """GELU, tanh approximation (GeGLU in T5 v1.1 and Gemma)."""
    return keras.activations.gelu(x, approximate=True)


# `activation` shorthands for the gated form -> the gate's activation
_GATED_SHORTHANDS = {"swiglu": keras.activations.silu, "geglu": _gelu_tanh}


def _get_activation(activation):
    if isinstance(activation, str) and activation in _GATED_SHORTHANDS:
        return _GATED_SHORTHANDS[activation]
    try:
        return keras.activations.get(activation)
    except (ValueError, TypeError) as error:
        raise ValueError(
            "`activation` must be a Keras activation (name or callable) or "
            f"one of {sorted(_GATED_SHORTHANDS)}. Received: "
            f"activation={activation!r}"
        ) from error


@keras.saving.register_keras_serializable(package="keras_attn")
class FeedForward(keras.layers.Layer):
    """Position-wise feed-forward network, plain or gated (GLU variants).

    `FFN(x) = act(x W_1 + b_1) W_2 + b_2`, applied to every position
    independently, with optional dropout on the hidden activations. With
    `gated=True` the hidden layer is gated (Shazeer 2020):
    `FFN(x) = (act(x W_gate) * (x W_1)) W_2` (biases omitted), with
    `W_gate` the `gate_dense` sublayer, `W_1` (`intermediate_dense`) the
    "up" projection and `W_2` (`output_dense`) the "down" one. SwiGLU
    (PaLM, Llama) is `gated=True, activation="silu"`, written
    `activation="swiglu"`; `activation="geglu"` is GeGLU with the tanh
    approximation of GELU, as in T5 v1.1 and Gemma (for the exact GELU,
    `gated=True, activation="gelu"`). Llama uses `use_bias=False`.

    Masking: position-wise, so the input's Keras mask is passed through.

    Args:
        intermediate_dim: hidden width (2048 in the paper's base model).
        activation: hidden activation (`"relu"` in the paper, `"gelu"` in
            BERT), or `"swiglu"` / `"geglu"`, which imply `gated=True`.
        dropout: dropout rate on the hidden activations.
        output_dim: output width; defaults to the input width.
        use_bias: whether the projections have biases.
        kernel_initializer, bias_initializer: initializers.
        gated: multiply the activated gate projection into the up
            projection (a third `(D, intermediate_dim)` kernel).

    Call arguments:
        inputs: `(B, T, D)`.
        training: dropout is applied only in training.

    Returns:
        `(B, T, output_dim)`.

    Example:
    >>> import numpy as np
    >>> tuple(FeedForward(16)(np.ones((2, 3, 8))).shape)
    (2, 3, 8)

    >>> swiglu = FeedForward(16, activation="swiglu", use_bias=False)
    >>> swiglu(np.ones((2, 3, 8))).shape[-1], swiglu.count_params()
    (8, 384)

    Reference:
        Vaswani et al., "Attention Is All You Need", NeurIPS 2017, §3.3;
        Shazeer, "GLU Variants Improve Transformer", 2020.
    """

    def __init__(
        self,
        intermediate_dim,
        activation="relu",
        dropout=0.0,
        output_dim=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        gated=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.intermediate_dim = check_positive_int(
            "intermediate_dim", intermediate_dim
        )
        self.activation = _get_activation(activation)
        self._shorthand = (
            activation
            if isinstance(activation, str) and activation in _GATED_SHORTHANDS
            else None
        )
        self.gated = bool(gated) or self._shorthand is not None
        self.dropout = check_rate("dropout", dropout)
        self.output_dim = check_positive_int(
            "output_dim", output_dim, allow_none=True
        )
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.intermediate_dense = self._dense(
            intermediate_dim, "intermediate_dense"
        )
        if self.gated:
            self.gate_dense = self._dense(intermediate_dim, "gate_dense")
        self.dropout_layer = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="dropout"
        )
        self.supports_masking = True

    def _dense(self, units, name):
        return keras.layers.Dense(
            units,
            use_bias=self.use_bias,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            bias_initializer=clone_initializer(self.bias_initializer),
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, inputs_shape):
        self.output_dense = self._dense(
            self.output_dim or inputs_shape[-1], "output_dense"
        )
        self.intermediate_dense.build(inputs_shape)
        if self.gated:
            self.gate_dense.build(inputs_shape)
        self.output_dense.build(
            tuple(inputs_shape[:-1]) + (self.intermediate_dim,)
        )

    def call(self, inputs, training=None):
        x = self.intermediate_dense(inputs)  # (B, T, F)
        if self.gated:
            x = self.activation(self.gate_dense(inputs)) * x  # (B, T, F)
        else:
            x = self.activation(x)
        x = self.dropout_layer(x, training=training)
        return self.output_dense(x)  # (B, T, D_out)

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape[:-1]) + (self.output_dim or inputs_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "intermediate_dim": self.intermediate_dim,
                "activation": self._shorthand
                or keras.activations.serialize(self.activation),
                "dropout": self.dropout,
                "output_dim": self.output_dim,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(
                    self.bias_initializer
                ),
                "gated": self.gated,
            }
        )
        return config
