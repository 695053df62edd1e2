"""The translators' decoding runtime: strings in, strings out, around a
model's step function and `keras_attn.generation`, compiled once per
shape bucket."""

import hashlib
import re

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_attn import generation
from zoo.data import START_ID
from zoo.harness import compiled

# Decoding is compiled once per (beam size, batch bucket, length bucket):
# a batch is padded to the next bucket (extra rows repeat its first
# sentence, extra columns are padding), so a handful of shapes serve every
# call and nothing is ever retraced.
BATCH_BUCKETS = (1, 8, 64)
LENGTH_BUCKETS = (8, 16, 32, 64, 128)


def _bucket(size, buckets, largest):
    """The smallest of `buckets` (capped at `largest`, which is one too)
    that holds `size`."""
    return min(b for b in (*buckets, largest) if b >= min(size, largest))


def search(step, state, batch, max_length, beam_size, alpha, end_id):
    """`keras_attn.generation` greedy search (`beam_size=1`) or beam search
    from `START_ID` over a translator's step function."""
    if beam_size == 1:
        return generation.greedy_search(
            step,
            state,
            max_length,
            start_id=START_ID,
            end_id=end_id,
            batch_size=batch,
        )
    return generation.beam_search(
        step,
        state,
        max_length,
        beam_size=beam_size,
        alpha=alpha,
        start_id=START_ID,
        end_id=end_id,
        batch_size=batch,
    )


def plot_slug(sentence, limit=40):
    """A file-name-safe name for a sentence's plot: its ASCII letters and
    digits, and a short hash so that different sentences never share one
    (`"I like tea."` -> `"i-like-tea-3a1b2c"`)."""
    words = re.sub(r"[^a-z0-9]+", "-", sentence.lower()).strip("-")
    digest = hashlib.sha1(sentence.encode("utf-8")).hexdigest()[:6]
    return f"{words[:limit].strip('-')}-{digest}".lstrip("-")


class BaseTranslator:
    """Strings in, strings out around a model's compiled batched decoding.

    Subclasses implement `_build_decode(beam_size)`: a Python function from
    `(B, S)` int32 source ids to `(tokens (B, L), scores (B,))`. It is
    traced once per beam size (1 = greedy) and bucketed batch shape into a
    `tf.function` concrete function (XLA-compiled where `jit_compile`) on
    TensorFlow, and by `jax.jit` on JAX (`zoo.harness.compiled`).
    """

    jit_compile = False

    def __init__(self, model, source_tokenizer, target_tokenizer, config):
        self.model = model
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        self.config = config
        self._compiled = {}

    def _build_decode(self, beam_size):
        raise NotImplementedError

    def _decode_fn(self, beam_size, batch, length):
        """The compiled decoding for `(batch, length)` source ids."""
        if isinstance(beam_size, bool) or not isinstance(beam_size, int):
            raise ValueError(
                "`beam_size` must be a positive integer. Received: "
                f"beam_size={beam_size!r}"
            )
        if beam_size < 1:
            raise ValueError(
                "`beam_size` must be a positive integer. Received: "
                f"beam_size={beam_size!r}"
            )
        key = (beam_size, batch, length)
        if key not in self._compiled:
            fn = compiled(self._build_decode(beam_size), self.jit_compile)
            if keras.config.backend() == "tensorflow":
                # A concrete function for exactly this shape: traced here,
                # once (jax.jit traces once per shape by itself).
                fn = fn.get_concrete_function(
                    tf.TensorSpec((batch, length), tf.int32)
                )
            self._compiled[key] = fn
        return self._compiled[key]

    def source_ids(self, sentences):
        """`(N, S)` int32 ids, 0-padded, truncated to `max_length`."""
        ids = self.source_tokenizer.tokenize(list(sentences))
        if isinstance(ids, tf.RaggedTensor):
            ids = ids.to_tensor()  # (N, S), 0-padded
        ids = ids[:, : self.config.max_length]
        return tf.cast(ids, tf.int32)

    def translate_ids(self, sentences, beam_size=1, batch_size=256):
        """Token ids `(N, max_length)` and scores `(N,)` for sentences."""
        sentences = list(sentences)
        tokens, scores = [], []
        for start in range(0, len(sentences), batch_size):
            ids = self.source_ids(sentences[start : start + batch_size])
            rows, length = ids.shape
            batch = _bucket(rows, BATCH_BUCKETS, batch_size)
            width = _bucket(length, LENGTH_BUCKETS, self.config.max_length)
            ids = tf.concat([ids, tf.repeat(ids[:1], batch - rows, 0)], 0)
            ids = tf.pad(ids, [[0, 0], [0, width - length]])  # (batch, width)
            t, s = self._decode_fn(beam_size, batch, width)(
                ops.convert_to_tensor(ids.numpy())
            )
            tokens.append(ops.convert_to_numpy(t)[:rows])
            scores.append(ops.convert_to_numpy(s)[:rows])
        return np.concatenate(tokens), np.concatenate(scores)

    def translate(self, sentences, beam_size=1, batch_size=256):
        """Translations of a list of sentences."""
        tokens, _ = self.translate_ids(sentences, beam_size, batch_size)
        return [self.target_tokenizer.detokenize(row) for row in tokens]

    def teacher_forced(self, sentence, beam_size=1, tokens=None):
        """The attention behind one translation.

        `tokens`: the translation's ids if already decoded (a row of
        `translate_ids`); otherwise `sentence` is decoded with
        `beam_size`. One teacher-forced pass over those tokens gives the
        weights the step-by-step decoding used.

        Returns:
            `(translation, source_pieces, target_pieces, scores)`, with
            `scores` as the model returns them for
            `return_attention_scores=True`.
        """
        if tokens is None:
            tokens = self.translate_ids([sentence], beam_size)[0][0]
        target = [int(t) for t in tokens if t != 0]
        source = self.source_ids([sentence])  # (1, S)
        target_in = tf.constant([[START_ID] + target[:-1]], tf.int32)
        _, scores = self.model(
            (source, target_in), training=False, return_attention_scores=True
        )
        source_row = [int(t) for t in source.numpy()[0] if t != 0]
        return (
            self.target_tokenizer.detokenize(tokens),
            [self.source_tokenizer.vocabulary[i] for i in source_row],
            [self.target_tokenizer.vocabulary[i] for i in target],
            scores,
        )

    def plot_translation(self, sentence, tokens, directory, name):
        """Save the attention plots of one translation as
        `<directory>/<name>...png`; returns their paths (none by default)."""
        return []
