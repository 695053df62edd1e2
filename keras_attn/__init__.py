"""keras_attn: attention layers for Keras 3 (TensorFlow, JAX, PyTorch)."""

from keras_attn import generation
from keras_attn import ops
from keras_attn import visualize
from keras_attn.layers import *  # noqa: F403
from keras_attn.layers import __all__ as _layers_all
from keras_attn.layers.kv_cache import CrossAttentionCache
from keras_attn.layers.kv_cache import SelfAttentionCache
from keras_attn.layers.kv_cache import SlidingWindowCache

__version__ = "0.1.0"
__all__ = [
    "generation",
    "ops",
    "visualize",
    "CrossAttentionCache",
    "SelfAttentionCache",
    "SlidingWindowCache",
    *_layers_all,
]
