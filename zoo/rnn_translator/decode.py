"""Translating with a trained RNN translator: greedy or beam search (by
`keras_attn.generation` over the model's step function), and the attention
(alignment) matrix of a translation."""

import tensorflow as tf
from keras import ops

from zoo.data import END_ID
from zoo.translation import BaseTranslator
from zoo.translation import search


class Translator(BaseTranslator):
    """Wraps a model and its tokenizers with compiled batched decoding."""

    def _build_decode(self, beam_size):
        model, max_length = self.model, self.config.max_length
        alpha = self.config.length_penalty

        def decode(source_ids):
            memory, mask, states, summary = model.encode(
                source_ids, training=False
            )
            # The encoder outputs never change during decoding and every
            # beam of an example shares them: repeat them once to the B·K
            # rows here and close over them, so that only the recurrent
            # state is carried (and reordered) by the search loop.
            memory, mask, summary = (
                tf.repeat(x, beam_size, axis=0) for x in (memory, mask, summary)
            )

            def step(tokens, state, index):
                logits, new_states, _ = model.decode_step(
                    tokens, list(state), memory, mask, summary
                )
                return logits, tuple(new_states)

            batch = tf.shape(source_ids)[0]
            return search(
                step, tuple(states), batch, max_length, beam_size, alpha, END_ID
            )

        return decode

    def alignment(self, sentence, beam_size=1, tokens=None):
        """`(translation, source_pieces, target_pieces, weights (T, S))` of
        a translation (see `teacher_forced`)."""
        if self.model.attention is None:
            raise ValueError(
                "Only the attention variant has alignments. Received: "
                f"variant={self.model.variant!r}"
            )
        text, source, target, weights = self.teacher_forced(
            sentence, beam_size, tokens
        )
        weights = ops.convert_to_numpy(weights)[0]  # (T, S)
        return text, source, target, weights[: len(target), : len(source)]

    def plot_alignment(self, sentence, path, beam_size=1, tokens=None):
        """Save the alignment of `sentence`'s translation (as `alignment`)
        at `path`; returns the translation."""
        import matplotlib.pyplot as plt

        from keras_attn.visualize import plot_attention

        text, source, target, weights = self.alignment(
            sentence, beam_size, tokens
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        figure = plot_attention(weights, target, source)
        figure.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(figure)
        return text

    def plot_translation(self, sentence, tokens, directory, name):
        """The alignment plot, for the attention variant."""
        if self.model.attention is None:
            return []
        path = directory / f"{name}.png"
        self.plot_alignment(sentence, path, tokens=tokens)
        return [path]
