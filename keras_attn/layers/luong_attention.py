import keras
from keras import ops

from keras_attn.layers._rnn_attention_base import RNNAttentionBase
from keras_attn.layers._rnn_attention_base import additive_scores
from keras_attn.layers._utils import clone_initializer
from keras_attn.layers._validation import check_choice
from keras_attn.layers._validation import check_positive_int

_SCORES = ("dot", "general", "concat")


@keras.saving.register_keras_serializable(package="keras_attn")
class LuongAttention(RNNAttentionBase):
    """Multiplicative (Luong) global attention.

    Scores a decoder query `h_t` against every encoder state `h̄_s` with
    one of the three score functions of Luong et al. (2015, eq. 8):

        dot:     e_ts = h_tᵀ h̄_s                  (needs Dq == Dk)
        general: e_ts = h_tᵀ W_a h̄_s             (learned W_a: Dq × Dk)
        concat:  e_ts = v_aᵀ tanh(W_a [h_t; h̄_s])   (learned, `units` wide)

    then `α_t = softmax_s(e_ts)` and the context `c_t = Σ_s α_ts v_s`.
    The attentional state `tanh(W_c [c_t; h_t])` of the paper is left to
    the decoder (one `Dense` on the concatenation).

    The query is either one decoder step `(B, Dq)` (outputs lose the T axis)
    or a sequence `(B, T, Dq)`.

    Masking: the Keras masks of `query` `(B, T)` and `value` `(B, S)` are
    consumed through `query_mask` / `value_mask`; an explicit boolean
    `attention_mask` broadcastable to `(B, T, S)` (or `(B, S)` for a single
    step) is combined with them, True = may attend. Masked keys get weight
    exactly 0; a padded query gets zero weights and a zero context, and the
    output carries the query mask.

    Args:
        score: `"dot"`, `"general"` or `"concat"`.
        units: width of the `"concat"` scoring layer; defaults to the key
            depth Dk. Only valid with `score="concat"`.
        kernel_initializer: initializer for the learned weights.
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
    >>> layer = LuongAttention(score="general")
    >>> decoder = np.ones((2, 3, 6), "float32")
    >>> encoder = np.ones((2, 5, 8), "float32")
    >>> tuple(layer(decoder, encoder).shape)
    (2, 3, 8)

    Reference:
        Luong, Pham, Manning, "Effective Approaches to Attention-based
        Neural Machine Translation", EMNLP 2015, section 3.1.
    """

    def __init__(
        self,
        score="dot",
        units=None,
        kernel_initializer="glorot_uniform",
        dropout=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        self.score = check_choice("score", score, _SCORES)
        self.units = check_positive_int("units", units, allow_none=True)
        if units is not None and score != "concat":
            raise ValueError(
                "`units` is only used with score='concat'. Received: "
                f"units={units}, score={score!r}"
            )
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def _dense(self, units, name):
        return keras.layers.Dense(
            units,
            use_bias=False,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, query_shape, value_shape, key_shape=None):
        key_shape = value_shape if key_shape is None else key_shape
        query_dim, key_dim = query_shape[-1], key_shape[-1]
        if self.score == "dot" and query_dim != key_dim:
            raise ValueError(
                "score='dot' needs queries and keys of the same depth; use "
                "score='general' otherwise. Received: "
                f"query_shape={tuple(query_shape)}, "
                f"key_shape={tuple(key_shape)}"
            )
        if self.score == "general":
            # W_a applied to the query: h_tᵀ W_a is (B, T, Dk).
            self.query_dense = self._dense(key_dim, "query_dense")
            self.query_dense.build(tuple(query_shape))
        elif self.score == "concat":
            # W_a [h_t; h̄_s] == W_q h_t + W_k h̄_s with W_a = [W_q, W_k].
            units = key_dim if self.units is None else self.units
            self.query_dense = self._dense(units, "query_dense")
            self.query_dense.build(tuple(query_shape))
            self.key_dense = self._dense(units, "key_dense")
            self.key_dense.build(tuple(key_shape))
            self.score_vector = self.add_weight(
                name="score_vector",
                shape=(units,),
                initializer=clone_initializer(self.kernel_initializer),
            )

    def _compute_scores(self, query, key):
        if self.score == "concat":
            return additive_scores(
                self.query_dense(query),  # (B, T, U)
                self.key_dense(key),  # (B, S, U)
                self.score_vector,
            )  # (B, T, S)
        if self.score == "general":
            query = self.query_dense(query)  # (B, T, Dk)
        return ops.matmul(query, ops.swapaxes(key, -1, -2))  # (B, T, S)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "score": self.score,
                "units": self.units,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
            }
        )
        return config
