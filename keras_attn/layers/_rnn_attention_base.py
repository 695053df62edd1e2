"""Shared base for the encoder-decoder ("RNN") attention layers.

`BahdanauAttention` and `LuongAttention` differ only in how a decoder query
scores the encoder states; masking, the softmax and the weighted sum are the
core `keras_attn.ops.attend`. Subclasses override `_compute_scores`.
"""

import keras
from keras import ops

from keras_attn.layers._utils import FlagDependentOutputs
from keras_attn.layers._validation import check_rate
from keras_attn.ops.attention import attend
from keras_attn.ops.masks import check_mask
from keras_attn.ops.masks import lift_mask
from keras_attn.ops.masks import merge_masks


def additive_scores(query, key, score_vector):
    """`vᵀ tanh(q + k)` for every (query, key) pair.

    Args:
        query: projected queries `(B, T, U)`.
        key: projected keys `(B, S, U)`.
        score_vector: `(U,)`.

    Returns:
        Scores `(B, T, S)`.
    """
    hidden = ops.tanh(
        ops.expand_dims(query, 2) + ops.expand_dims(key, 1)
    )  # (B, T, S, U)
    return ops.einsum("btsu,u->bts", hidden, score_vector)  # (B, T, S)


class RNNAttentionBase(FlagDependentOutputs, keras.layers.Layer):
    """Base: a decoder query attends over encoder states.

    Subclasses implement `_compute_scores(query, key) -> (B, T, S)` and may
    create sublayers in `build(query_shape, value_shape, key_shape=None)`.

    Args:
        dropout: dropout rate on the attention weights, in [0, 1).
        seed: int seed for the dropout.
        **kwargs: base `keras.layers.Layer` arguments.
    """

    def __init__(self, dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.dropout = check_rate("dropout", dropout)
        self.seed = seed
        self.seed_generator = (
            keras.random.SeedGenerator(seed) if dropout > 0 else None
        )
        self.supports_masking = True

    def _compute_scores(self, query, key):
        """Attention logits `(B, T, S)` from `(B, T, Dq)` and `(B, S, Dk)`."""
        raise NotImplementedError

    def call(
        self,
        query,
        value,
        key=None,
        query_mask=None,
        value_mask=None,
        attention_mask=None,
        return_attention_scores=False,
        training=None,
    ):
        if key is None:
            key = value
        single_step = len(query.shape) == 2
        if single_step:
            query = ops.expand_dims(query, 1)  # (B, 1, Dq)
            query_mask = None
            if attention_mask is not None and len(attention_mask.shape) == 2:
                attention_mask = ops.expand_dims(attention_mask, 1)  # (B,1,S)
        if query_mask is not None:
            query_mask = lift_mask(check_mask(query_mask), 3, "query")
        if value_mask is not None:
            value_mask = lift_mask(check_mask(value_mask), 3, "key")
        # A fully masked query row gets zero weights and a zero context.
        mask = merge_masks(
            query_mask,
            value_mask,
            check_mask(attention_mask, "attention_mask"),
        )
        scores = self._compute_scores(query, key)  # (B, T, S)
        context, weights = attend(
            scores,
            value,
            mask=mask,
            dropout=self.dropout,
            training=bool(training),
            seed=self.seed_generator,
            return_weights=True,
        )  # (B, T, Dv), (B, T, S)
        if single_step:
            context = ops.squeeze(context, 1)  # (B, Dv)
            weights = ops.squeeze(weights, 1)  # (B, S)
        if return_attention_scores:
            return context, weights
        return context

    def compute_mask(self, query, previous_mask=None):
        if len(query.shape) == 2:
            return None
        return previous_mask

    def compute_output_shape(self, query_shape, value_shape, key_shape=None):
        return tuple(query_shape[:-1]) + (value_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update({"dropout": self.dropout, "seed": self.seed})
        return config
