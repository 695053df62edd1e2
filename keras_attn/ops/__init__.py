"""Functional attention ops over `keras.ops` (any Keras backend)."""

from keras_attn.ops.attention import attend
from keras_attn.ops.attention import masked_softmax
from keras_attn.ops.attention import scaled_dot_product_attention
from keras_attn.ops.masks import causal_mask
from keras_attn.ops.masks import lift_mask
from keras_attn.ops.masks import merge_masks
from keras_attn.ops.masks import padding_mask
from keras_attn.ops.masks import sliding_window_mask
from keras_attn.ops.memory_efficient import fused_kernel_available
from keras_attn.ops.memory_efficient import memory_efficient_attention
from keras_attn.ops.positions import alibi_bias
from keras_attn.ops.positions import alibi_slopes
from keras_attn.ops.positions import relative_position_bucket

__all__ = [
    "alibi_bias",
    "alibi_slopes",
    "attend",
    "causal_mask",
    "masked_softmax",
    "fused_kernel_available",
    "memory_efficient_attention",
    "lift_mask",
    "merge_masks",
    "padding_mask",
    "relative_position_bucket",
    "scaled_dot_product_attention",
    "sliding_window_mask",
]
