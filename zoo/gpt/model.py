"""A decoder-only language model (GPT) from keras_attn layers, in two
configurations of the same code.

    token ids ─ Embedding (+ PositionEmbedding: gpt2) ─ dropout
      ─ TransformerDecoder (pre-norm, causal, no encoder) ─ final norm
      ─ logits = h @ Embeddingᵀ (tied), float32

* `gpt2`: learned absolute positions (`keras_attn.PositionEmbedding`),
  LayerNorm, GELU, multi-head attention with biases (Radford et al. 2019).
* `modern`: rotary positions inside attention, RMSNorm, SwiGLU, no
  biases, grouped-query attention, optionally a sliding window (Llama,
  Mistral): `keras_attn.TransformerDecoder(norm_first=True,
  normalization="rms_norm", activation="swiglu", use_bias=False,
  num_key_value_heads=..., rotary_embedding=True, sliding_window=...)`.

Generation uses the decoder's KV cache: `prefill` runs the prompt
`(B, P)` through every layer at once, writing positions `0 .. P-1`;
`step` runs one token at position `index`. See decode.py.
"""

import keras
from keras import ops

import keras_attn
from zoo.gpt.config import ARCHITECTURES


@keras.saving.register_keras_serializable(package="zoo")
class GPT(keras.Model):
    """`token_ids (B, T) -> next-token logits (B, T, V)`, float32.

    Args:
        vocabulary_size: V.
        context_length: the longest sequence (the gpt2 position table).
        architecture: `"gpt2"` or `"modern"` (see the module docstring).
        num_layers, num_heads, model_dim, intermediate_dim, dropout: the
            decoder stack.
        num_key_value_heads: `modern`: key/value heads (None = num_heads).
        sliding_window: `modern`: None or the attention window.
    """

    def __init__(
        self,
        vocabulary_size,
        context_length=128,
        architecture="gpt2",
        num_layers=4,
        num_heads=4,
        model_dim=128,
        intermediate_dim=512,
        dropout=0.0,
        num_key_value_heads=None,
        sliding_window=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if architecture not in ARCHITECTURES:
            raise ValueError(
                f"`architecture` must be one of {list(ARCHITECTURES)}. "
                f"Received: architecture={architecture!r}"
            )
        self.vocabulary_size = vocabulary_size
        self.context_length = context_length
        self.architecture = architecture
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.model_dim = model_dim
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.num_key_value_heads = num_key_value_heads
        self.sliding_window = sliding_window
        init = keras.initializers.RandomNormal(stddev=0.02)  # GPT-2's
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size,
            model_dim,
            embeddings_initializer=init,
            name="token_embedding",
        )
        self.position_embedding = None
        stack = {
            "num_layers": num_layers,
            "num_heads": num_heads,
            "intermediate_dim": intermediate_dim,
            "dropout": dropout,
            "norm_first": True,
            "kernel_initializer": keras.initializers.serialize(init),
        }
        if architecture == "gpt2":
            self.position_embedding = keras_attn.PositionEmbedding(
                context_length, initializer=init, name="position_embedding"
            )
            stack.update(activation="gelu", normalization="layer_norm")
        else:
            stack.update(
                activation="swiglu",
                normalization="rms_norm",
                use_bias=False,
                num_key_value_heads=num_key_value_heads,
                rotary_embedding=True,
                sliding_window=sliding_window,
            )
        self.decoder = keras_attn.TransformerDecoder(**stack, name="decoder")
        self.embedding_dropout = keras.layers.Dropout(dropout)

    def build(self, token_ids_shape):
        self.token_embedding.build(token_ids_shape)
        hidden = tuple(token_ids_shape) + (self.model_dim,)
        if self.position_embedding is not None:
            self.position_embedding.build(hidden)
        self.decoder.build(hidden)
        self.built = True

    def _embed(self, token_ids, start_index=0, training=None):
        x = self.token_embedding(token_ids)  # (B, T, D)
        if self.position_embedding is not None:
            x = x + self.position_embedding(x, start_index=start_index)
        return self.embedding_dropout(x, training=training)

    def _logits(self, h):
        # Tied output layer: (B, T, D) @ (D, V) -> (B, T, V).
        table = ops.cast(self.token_embedding.embeddings, h.dtype)
        return ops.cast(ops.matmul(h, ops.transpose(table)), "float32")

    def call(self, token_ids, training=None):
        x = self._embed(token_ids, training=training)
        h = self.decoder(x, use_causal_mask=True, training=training)
        return self._logits(h)

    # --- cached generation ------------------------------------------------
    def init_cache(self, batch_size, max_length):
        """Per layer an empty `(self_cache, None)` for `max_length`
        positions (a ring of `sliding_window` slots where that is
        shorter)."""
        return self.decoder.init_cache(batch_size, max_length)

    def prefill(self, prompt, cache):
        """The prompt `(B, P)` written at positions `0 .. P-1` in one
        pass: `(logits (B, V) after the prompt, cache)`."""
        x = self._embed(prompt, start_index=0, training=False)
        h, cache = self.decoder(x, cache=cache, cache_index=0, training=False)
        return self._logits(h[:, -1:])[:, 0], cache

    def step(self, tokens, cache, index):
        """One cached step: `(logits (N, V), cache)` for the `(N,)`
        `tokens` at position `index`."""
        x = self._embed(tokens[:, None], start_index=index, training=False)
        h, cache = self.decoder(
            x, cache=cache, cache_index=index, training=False
        )
        return self._logits(h)[:, 0], cache

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                name: getattr(self, name)
                for name in (
                    "vocabulary_size",
                    "context_length",
                    "architecture",
                    "num_layers",
                    "num_heads",
                    "model_dim",
                    "intermediate_dim",
                    "dropout",
                    "num_key_value_heads",
                    "sliding_window",
                )
            }
        )
        return config


def build(config, vocabulary_size):
    """A built (uncompiled) `GPT` for a `Config`."""
    model = GPT(
        vocabulary_size=vocabulary_size,
        context_length=config.context_length,
        architecture=config.architecture,
        num_layers=config.num_layers,
        num_heads=config.num_heads,
        model_dim=config.model_dim,
        intermediate_dim=config.intermediate_dim,
        dropout=config.dropout,
        num_key_value_heads=config.num_key_value_heads or None,
        sliding_window=config.sliding_window or None,
        name=f"gpt_{config.architecture}",
    )
    model(ops.zeros((1, config.context_length), "int32"))
    return model
