"""Functional attention ops over `keras.ops` (any Keras backend)."""

from keras_attn.ops.attention import attend
from keras_attn.ops.attention import masked_softmax
from keras_attn.ops.attention import scaled_dot_product_attention
from keras_attn.ops.masks import causal_mask
from keras_attn.ops.masks import lift_mask
from keras_attn.ops.masks import merge_masks
from keras_attn.ops.masks import padding_mask
from keras_attn.ops.masks import sliding_window_mask

__all__ = [
    "attend",
    "causal_mask",
    "masked_softmax",
    "lift_mask",
    "merge_masks",
    "padding_mask",
    "scaled_dot_product_attention",
    "sliding_window_mask",
]
