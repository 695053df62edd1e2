"""Translating with a trained Transformer: KV-cached greedy and beam search,
the uncached reference decoding, and cross-attention maps.

Cached decoding (`Translator`): the encoder runs once; `init_cache`
projects its output to every layer's cross-attention keys/values once and
allocates a fixed-size self-attention cache; each step embeds one token at
its position and runs the decoder layers on that token alone. For beam
search the static cross-attention cache and source mask are repeated to the
B·K rows once and closed over, so the search loop carries (and reorders)
only the self-attention caches.

Uncached decoding (`uncached=True`): each step re-runs the whole model,
encoder included, on the source and the prefix generated so far, the way
the TensorFlow and keras.io Transformer tutorials decode. Same search loops
(`keras_attn.generation`, through `zoo.translation.search`),
so the two must give the same tokens (tested); it is the benchmark's
baseline (a).
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from zoo.data import END_ID
from zoo.translation import BaseTranslator
from zoo.translation import search


def cached_decode_fn(model, max_length, beam_size=1, alpha=0.6, end_id=END_ID):
    """`f(source_ids (B, S)) -> (tokens (B, max_length), scores (B,))`,
    KV-cached (not yet wrapped in `tf.function`). `end_id=-1` never stops
    early (benchmarks: always `max_length` steps)."""

    def decode(source_ids):
        memory, source_mask = model.encode(source_ids, training=False)
        cache = model.init_cache(memory, max_length)
        self_cache = tuple(layer[0] for layer in cache)
        cross_cache, source_mask = keras.tree.map_structure(
            lambda t: ops.repeat(t, beam_size, axis=0),
            (tuple(layer[1] for layer in cache), source_mask),
        )

        def step(tokens, state, index):
            logits, new_cache = model.decode_step(
                tokens, tuple(zip(state, cross_cache)), index, source_mask
            )
            return logits, tuple(layer[0] for layer in new_cache)

        batch = ops.shape(source_ids)[0]
        return search(
            step, self_cache, batch, max_length, beam_size, alpha, end_id
        )

    return decode


def uncached_decode_fn(
    model, max_length, beam_size=1, alpha=0.6, end_id=END_ID
):
    """The tutorials' decoding: the whole model re-run on the source and
    the prefix at every step (dynamic shapes: not XLA-compilable)."""

    def decode(source_ids):
        batch = tf.shape(source_ids)[0]
        source = tf.repeat(source_ids, beam_size, axis=0)
        prefix = tf.zeros([batch, max_length], tf.int32)  # state, (N, L)

        def step(tokens, prefix, index):
            prefix = tf.tensor_scatter_nd_update(
                tf.transpose(prefix), [[index]], tokens[None]
            )
            prefix = tf.transpose(prefix)
            logits = model((source, prefix[:, : index + 1]), training=False)
            return logits[:, -1], prefix

        return search(step, prefix, batch, max_length, beam_size, alpha, end_id)

    return decode


class Translator(BaseTranslator):
    """A trained `TransformerTranslator` and its tokenizers.

    Args:
        model, source_tokenizer, target_tokenizer, config: the run's.
        jit_compile: XLA-compile the cached decoding loop.
        uncached: decode by re-running the model every step (reference).
    """

    def __init__(
        self,
        model,
        source_tokenizer,
        target_tokenizer,
        config,
        jit_compile=False,
        uncached=False,
    ):
        super().__init__(model, source_tokenizer, target_tokenizer, config)
        if uncached and jit_compile:
            raise ValueError(
                "Uncached decoding has dynamic shapes and cannot be "
                "XLA-compiled. Received: uncached=True, jit_compile=True"
            )
        self.jit_compile = jit_compile
        self.uncached = uncached

    def _build_decode(self, beam_size):
        make = uncached_decode_fn if self.uncached else cached_decode_fn
        return make(
            self.model,
            self.config.max_length,
            beam_size,
            self.config.length_penalty,
        )

    def cross_attention(self, sentence, beam_size=1, tokens=None):
        """`(translation, source_pieces, target_pieces, weights)` with the
        cross-attention `weights (layers, heads, T, S)` of a translation
        (see `teacher_forced`)."""
        text, source, target, scores = self.teacher_forced(
            sentence, beam_size, tokens
        )
        weights = np.stack(
            [ops.convert_to_numpy(cross)[0] for _, cross in scores]
        )  # (layers, heads, T, S)
        return text, source, target, weights[..., : len(target), : len(source)]

    def plot_cross_attention(
        self, sentence, directory, prefix="cross", beam_size=1, tokens=None
    ):
        """One figure per decoder layer with every head's cross-attention
        of the translation (as `cross_attention`); returns
        `(translation, [paths])`."""
        from keras_attn.visualize import plot_attention_heads

        text, source, target, weights = self.cross_attention(
            sentence, beam_size, tokens
        )
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for layer, layer_weights in enumerate(weights):
            figure = plot_attention_heads(
                layer_weights,
                target,
                source,
                ncols=min(4, len(layer_weights)),
                title=f"decoder layer {layer + 1}: cross-attention",
            )
            path = directory / f"{prefix}_layer{layer + 1}.png"
            figure.savefig(path, dpi=110, bbox_inches="tight")
            paths.append(path)
            import matplotlib.pyplot as plt

            plt.close(figure)
        return text, paths

    def plot_translation(self, sentence, tokens, directory, name):
        """Every head's cross-attention, one figure per decoder layer."""
        _, paths = self.plot_cross_attention(
            sentence, directory, prefix=name, tokens=tokens
        )
        return paths
