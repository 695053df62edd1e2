"""Public keras_attn layers."""

from keras_attn.layers.bahdanau_attention import BahdanauAttention
from keras_attn.layers.feed_forward import FeedForward
from keras_attn.layers.luong_attention import LuongAttention
from keras_attn.layers.multi_head_attention import MultiHeadAttention
from keras_attn.layers.position_embedding import PositionEmbedding
from keras_attn.layers.relative_position_bias import RelativePositionBias
from keras_attn.layers.rotary_embedding import RotaryEmbedding
from keras_attn.layers.scaled_dot_product_attention import (
    ScaledDotProductAttention,
)
from keras_attn.layers.se_residual_block import SEResidualBlock
from keras_attn.layers.self_attention_2d import SelfAttention2D
from keras_attn.layers.sinusoidal_position_encoding import (
    SinusoidalPositionEncoding,
)
from keras_attn.layers.spectral_normalization import SpectralNormalization
from keras_attn.layers.squeeze_excite import SqueezeExcite
from keras_attn.layers.token_and_position_embedding import (
    TokenAndPositionEmbedding,
)
from keras_attn.layers.transformer_decoder_block import TransformerDecoderBlock
from keras_attn.layers.transformer_encoder_block import TransformerEncoderBlock
from keras_attn.layers.transformer_stacks import TransformerDecoder
from keras_attn.layers.transformer_stacks import TransformerEncoder

__all__ = [
    "BahdanauAttention",
    "FeedForward",
    "LuongAttention",
    "MultiHeadAttention",
    "PositionEmbedding",
    "RelativePositionBias",
    "RotaryEmbedding",
    "SEResidualBlock",
    "ScaledDotProductAttention",
    "SelfAttention2D",
    "SinusoidalPositionEncoding",
    "SpectralNormalization",
    "SqueezeExcite",
    "TokenAndPositionEmbedding",
    "TransformerDecoder",
    "TransformerDecoderBlock",
    "TransformerEncoder",
    "TransformerEncoderBlock",
]
