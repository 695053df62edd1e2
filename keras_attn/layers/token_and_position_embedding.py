import math

import keras
from keras import ops

from keras_attn.layers._utils import FlagDependentOutputs
from keras_attn.layers._validation import check_choice
from keras_attn.layers._validation import check_positive_int
from keras_attn.layers.position_embedding import PositionEmbedding
from keras_attn.layers.sinusoidal_position_encoding import (
    SinusoidalPositionEncoding,
)


@keras.saving.register_keras_serializable(package="keras_attn")
class TokenAndPositionEmbedding(FlagDependentOutputs, keras.layers.Layer):
    """Token embedding plus a learned or sinusoidal position encoding.

    `E[token] * (sqrt(D) if scale_embeddings) + P[position]`. With
    `position_encoding="sinusoidal"` and `scale_embeddings=True` this is the
    input layer of the original Transformer; `"learned"` is BERT/GPT's.
    `layer(x, reverse=True)` (or `compute_logits(x)`) multiplies `(B, T, D)`
    by the transposed token table, for an output layer tied to the input
    embedding (Press & Wolf 2017).

    Masking: with `mask_zero=True`, id 0 is padding and the layer emits the
    Keras mask `token_ids != 0`, which downstream keras_attn layers consume.

    Args:
        vocabulary_size: number of token ids.
        max_length: longest sequence (size of a learned position table).
        embedding_dim: D.
        mask_zero: treat id 0 as padding.
        position_encoding: `"learned"` or `"sinusoidal"`.
        scale_embeddings: multiply token embeddings by `sqrt(D)`.
        embeddings_initializer: initializer of the token table.

    Call arguments:
        token_ids: integer `(B, T)` (with `reverse`: float `(B, T, D)`).
        start_index: position of the first token (decoding with a cache).
        reverse: return tied logits `(B, T, vocabulary_size)` instead.

    Returns:
        `(B, T, D)` embeddings.

    Example:
    >>> import numpy as np
    >>> emb = TokenAndPositionEmbedding(20, 10, 8, mask_zero=True)
    >>> tuple(emb(np.array([[3, 4, 0]])).shape)
    (1, 3, 8)

    Reference:
        Vaswani et al., "Attention Is All You Need", NeurIPS 2017, §3.4-3.5.
    """

    def __init__(
        self,
        vocabulary_size,
        max_length,
        embedding_dim,
        mask_zero=False,
        position_encoding="learned",
        scale_embeddings=False,
        embeddings_initializer="uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size = check_positive_int(
            "vocabulary_size", vocabulary_size
        )
        self.max_length = check_positive_int("max_length", max_length)
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        self.mask_zero = bool(mask_zero)
        self.position_encoding = check_choice(
            "position_encoding", position_encoding, {"learned", "sinusoidal"}
        )
        self.scale_embeddings = bool(scale_embeddings)
        self.embeddings_initializer = keras.initializers.get(
            embeddings_initializer
        )
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size,
            embedding_dim,
            embeddings_initializer=self.embeddings_initializer,
            dtype=self.dtype_policy,
            name="token_embedding",
        )
        if position_encoding == "learned":
            self.position_embedding = PositionEmbedding(
                max_length, dtype=self.dtype_policy, name="position_embedding"
            )
        else:
            self.position_embedding = SinusoidalPositionEncoding(
                dtype=self.dtype_policy, name="position_embedding"
            )
        self.supports_masking = self.mask_zero

    def build(self, token_ids_shape):
        self.token_embedding.build(token_ids_shape)
        self.position_embedding.build(
            tuple(token_ids_shape) + (self.embedding_dim,)
        )

    def call(self, token_ids, start_index=0, reverse=False):
        if reverse:
            # Tied output layer: (B, T, D) @ (D, V) -> (B, T, V).
            table = ops.cast(self.token_embedding.embeddings, token_ids.dtype)
            return ops.matmul(token_ids, ops.transpose(table))
        length = token_ids.shape[-1]
        if length is not None and length > self.max_length:
            raise ValueError(
                "`token_ids` is longer than `max_length`. Received: "
                f"max_length={self.max_length}, token_ids.shape="
                f"{tuple(token_ids.shape)}"
            )
        x = self.token_embedding(token_ids)  # (B, T, D)
        if self.scale_embeddings:
            x = x * ops.cast(math.sqrt(self.embedding_dim), x.dtype)
        return x + self.position_embedding(x, start_index=start_index)

    def compute_logits(self, x):
        """Tied output layer: `(B, T, D) -> (B, T, vocabulary_size)`.

        Same as `layer(x, reverse=True)`; it goes through `__call__`, so in
        a functional model the logits follow the trained table.
        """
        return self(x, reverse=True)

    def compute_mask(self, token_ids, mask=None):
        # Keras calls this with the layer's first input only, so a
        # `reverse=True` call is recognised by its (B, T, D) input: the
        # logits keep the positions' mask (never one computed from floats).
        if len(token_ids.shape) >= 3:
            return mask
        if not self.mask_zero:
            return None
        return ops.not_equal(token_ids, 0)

    def compute_output_shape(self, token_ids_shape):
        return tuple(token_ids_shape) + (self.embedding_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "max_length": self.max_length,
                "embedding_dim": self.embedding_dim,
                "mask_zero": self.mask_zero,
                "position_encoding": self.position_encoding,
                "scale_embeddings": self.scale_embeddings,
                "embeddings_initializer": keras.initializers.serialize(
                    self.embeddings_initializer
                ),
            }
        )
        return config
