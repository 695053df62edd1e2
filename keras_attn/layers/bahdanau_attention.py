import keras

from keras_attn.layers._rnn_attention_base import RNNAttentionBase
from keras_attn.layers._rnn_attention_base import additive_scores
from keras_attn.layers._utils import clone_initializer
from keras_attn.layers._validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_attn")
class BahdanauAttention(RNNAttentionBase):
    """Additive (Bahdanau) attention with learned projections.

    Scores every decoder query `q_t` against every encoder key `k_s` with

        e_ts = vᵀ tanh(W_q q_t + W_k k_s),    α_t = softmax_s(e_ts),
        c_t = Σ_s α_ts v_s

    where `W_q`, `W_k` (`units` outputs, no bias) and `v` are learned.
    Unlike `keras.layers.AdditiveAttention`, the query and key are
    projected, so they may have different depths.

    The query is either one decoder step `(B, Dq)` (outputs lose the T axis)
    or a sequence `(B, T, Dq)`.

    Masking: the Keras masks of `query` `(B, T)` and `value` `(B, S)` are
    consumed through `query_mask` / `value_mask`; an explicit boolean
    `attention_mask` broadcastable to `(B, T, S)` (or `(B, S)` for a single
    step) is combined with them, True = may attend. Masked keys get weight
    exactly 0; a padded query gets zero weights and a zero context, and the
    output carries the query mask.

    Args:
        units: positive int, size U of the hidden scoring layer.
        kernel_initializer: initializer for `W_q`, `W_k` and `v`.
        dropout: dropout rate on the attention weights, in [0, 1).
        seed: int seed for the dropout.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        query: decoder states `(B, T, Dq)` or one step `(B, Dq)`.
        value: encoder states `(B, S, Dv)`.
        key: optional `(B, S, Dk)`; defaults to `value`.
        query_mask: optional boolean `(B, T)`.
        value_mask: optional boolean `(B, S)`.
        attention_mask: optional boolean, broadcastable to `(B, T, S)`.
        return_attention_scores: also return the alignment weights.
        training: enables dropout on the weights.

    Returns:
        Context `(B, T, Dv)` (or `(B, Dv)`), and, when
        `return_attention_scores`, the weights `(B, T, S)` (or `(B, S)`).

    Example:
    >>> import numpy as np
    >>> layer = BahdanauAttention(units=4)
    >>> step = np.ones((2, 6), "float32")
    >>> encoder = np.ones((2, 5, 8), "float32")
    >>> context, weights = layer(step, encoder, return_attention_scores=True)
    >>> tuple(context.shape), tuple(weights.shape)
    ((2, 8), (2, 5))

    Reference:
        Bahdanau, Cho, Bengio, "Neural Machine Translation by Jointly
        Learning to Align and Translate", ICLR 2015, eq. (6) and App. A.1.2.
    """

    def __init__(
        self,
        units,
        kernel_initializer="glorot_uniform",
        dropout=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        self.units = check_positive_int("units", units)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.query_dense = keras.layers.Dense(
            units,
            use_bias=False,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            dtype=self.dtype_policy,
            name="query_dense",
        )
        self.key_dense = keras.layers.Dense(
            units,
            use_bias=False,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            dtype=self.dtype_policy,
            name="key_dense",
        )

    def build(self, query_shape, value_shape, key_shape=None):
        key_shape = value_shape if key_shape is None else key_shape
        self.query_dense.build(tuple(query_shape))
        self.key_dense.build(tuple(key_shape))
        self.score_vector = self.add_weight(
            name="score_vector",
            shape=(self.units,),
            initializer=clone_initializer(self.kernel_initializer),
        )

    def _compute_scores(self, query, key):
        return additive_scores(
            self.query_dense(query),  # (B, T, U)
            self.key_dense(key),  # (B, S, U)
            self.score_vector,
        )  # (B, T, S)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
            }
        )
        return config
