"""Translating with a trained RNN translator: greedy or beam search, and the
attention (alignment) matrix of a translation."""

import tensorflow as tf
from keras import ops

from zoo.data import END_ID
from zoo.data import START_ID
from zoo.decoding import beam_search
from zoo.decoding import greedy_decode
from zoo.translation import BaseTranslator


class Translator(BaseTranslator):
    """Wraps a model and its tokenizers with compiled batched decoding."""

    def _build_decode(self, beam_size):
        model, max_length = self.model, self.config.max_length

        @tf.function(reduce_retracing=True)
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
            if beam_size == 1:
                return greedy_decode(
                    step, tuple(states), batch, max_length, START_ID, END_ID
                )
            return beam_search(
                step,
                tuple(states),
                batch,
                max_length,
                START_ID,
                END_ID,
                beam_size=beam_size,
                alpha=self.config.length_penalty,
            )

        return decode

    def alignment(self, sentence, beam_size=1):
        """`(translation, source_pieces, target_pieces, weights (T, S))`.

        The weights come from one teacher-forced pass over the decoded
        tokens, which equals the step-by-step attention of the decoding.
        """
        if self.model.attention is None:
            raise ValueError(
                "Only the attention variant has alignments. Received: "
                f"variant={self.model.variant!r}"
            )
        tokens, _ = self.translate_ids([sentence], beam_size)
        target = [int(t) for t in tokens[0] if t != 0]
        source = self.source_ids([sentence])
        target_in = tf.constant([[START_ID] + target[:-1]], tf.int32)
        _, weights = self.model(
            (source, target_in), training=False, return_attention_scores=True
        )
        weights = ops.convert_to_numpy(weights)[0]  # (T, S)
        source_row = [int(t) for t in source.numpy()[0] if t != 0]
        return (
            self.target_tokenizer.detokenize(tokens[0]),
            [self.source_tokenizer.vocabulary[i] for i in source_row],
            [self.target_tokenizer.vocabulary[i] for i in target],
            weights[: len(target), : len(source_row)],
        )
