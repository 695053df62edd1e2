import keras

from keras_attn.layers._utils import FlagDependentOutputs
from keras_attn.layers._validation import check_positive_float
from keras_attn.layers._validation import check_rate
from keras_attn.ops import causal_mask
from keras_attn.ops import lift_mask
from keras_attn.ops import merge_masks
from keras_attn.ops import scaled_dot_product_attention


@keras.saving.register_keras_serializable(package="keras_attn")
class ScaledDotProductAttention(FlagDependentOutputs, keras.layers.Layer):
    """Scaled dot-product attention as a layer (no weights).

    Computes `softmax(Q Kᵀ / sqrt(H)) V` over the last two axes with
    `keras_attn.ops.scaled_dot_product_attention`.

    Masking: `attention_mask` is boolean, broadcastable to `(..., T, S)`,
    True = may attend. Keras masks on `query` (B, T) and `value` (B, S) are
    consumed through the auto-filled `query_mask` / `value_mask`; a masked
    query row outputs zeros. `use_causal_mask=True` adds the look-ahead mask
    aligned to the end of the keys.

    Args:
        dropout: dropout rate on the attention weights.
        scale: logits scale; `None` means `1 / sqrt(H)`.
        seed: seed for the dropout.

    Call arguments (B batch, T query length, S key length, H depth):
        query: `(B, ..., T, H)`.
        value: `(B, ..., S, Hv)`.
        key: `(B, ..., S, H)`; defaults to `value`.
        query_mask, value_mask: boolean `(B, T)` / `(B, S)`.
        attention_mask: boolean broadcastable to `(B, ..., T, S)`.
        use_causal_mask: apply the look-ahead mask.
        return_attention_scores: also return the weights.
        training: dropout is applied only in training.

    Returns:
        `(B, ..., T, Hv)`, and the weights `(B, ..., T, S)` on request.

    Example:
    >>> import numpy as np
    >>> layer = ScaledDotProductAttention()
    >>> out = layer(np.ones((2, 3, 4)), np.ones((2, 5, 4)))
    >>> tuple(out.shape)
    (2, 3, 4)

    Reference:
        Vaswani et al., "Attention Is All You Need", NeurIPS 2017.
    """

    def __init__(self, dropout=0.0, scale=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.dropout = check_rate("dropout", dropout)
        self.scale = (
            None if scale is None else check_positive_float("scale", scale)
        )
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(
        self,
        query,
        value,
        key=None,
        query_mask=None,
        value_mask=None,
        attention_mask=None,
        use_causal_mask=False,
        return_attention_scores=False,
        training=None,
    ):
        key = value if key is None else key
        rank = len(query.shape)
        masks = [attention_mask]
        if query_mask is not None:
            # (B, T) -> (B, 1, ..., T, 1)
            masks.append(lift_mask(query_mask, rank, "query"))
        if value_mask is not None:
            # (B, S) -> (B, 1, ..., 1, S)
            masks.append(lift_mask(value_mask, rank, "key"))
        if use_causal_mask:
            masks.append(
                causal_mask(
                    keras.ops.shape(query)[-2], keras.ops.shape(key)[-2]
                )
            )
        return scaled_dot_product_attention(
            query,
            key,
            value,
            mask=merge_masks(*masks),
            scale=self.scale,
            dropout=self.dropout,
            training=bool(training),
            seed=self.seed_generator,
            return_weights=return_attention_scores,
        )

    def compute_output_shape(self, query_shape, value_shape, key_shape=None):
        return tuple(query_shape[:-1]) + (value_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"dropout": self.dropout, "scale": self.scale, "seed": self.seed}
        )
        return config
