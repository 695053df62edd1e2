"""keras_attn: attention layers for Keras 3 (TensorFlow, JAX, PyTorch)."""

from keras_attn import ops
from keras_attn import visualize
from keras_attn.layers import *  # noqa: F403
from keras_attn.layers import __all__ as _layers_all

__version__ = "0.1.0"
__all__ = ["ops", "visualize", *_layers_all]
