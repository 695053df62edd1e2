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

import numpy as np
import tensorflow as tf
from keras import ops

from zoo.data import END_ID
from zoo.data import START_ID
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
        cross_cache, source_mask = tf.nest.map_structure(
            lambda t: tf.repeat(t, beam_size, axis=0),
            (tuple(layer[1] for layer in cache), source_mask),
        )

        def step(tokens, state, index):
            logits, new_cache = model.decode_step(
                tokens, tuple(zip(state, cross_cache)), index, source_mask
            )
            return logits, tuple(layer[0] for layer in new_cache)

        batch = tf.shape(source_ids)[0]
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
        cross-attention `weights (layers, heads, T, S)` of the decoded
        translation (one teacher-forced pass over its tokens, which gives
        the weights the step-by-step decoding used). `tokens`: the
        translation's ids if already decoded (a row of `translate_ids`);
        otherwise `sentence` is decoded with `beam_size`."""
        if tokens is None:
            tokens = self.translate_ids([sentence], beam_size)[0][0]
        target = [int(t) for t in tokens if t != 0]
        source = self.source_ids([sentence])
        target_in = tf.constant([[START_ID] + target[:-1]], tf.int32)
        _, scores = self.model(
            (source, target_in), training=False, return_attention_scores=True
        )
        weights = np.stack(
            [ops.convert_to_numpy(cross)[0] for _, cross in scores]
        )  # (layers, heads, T, S)
        source_row = [int(t) for t in source.numpy()[0] if t != 0]
        return (
            self.target_tokenizer.detokenize(tokens),
            [self.source_tokenizer.vocabulary[i] for i in source_row],
            [self.target_tokenizer.vocabulary[i] for i in target],
            weights[:, :, : len(target), : len(source_row)],
        )

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
