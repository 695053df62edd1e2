"""The translators' decoding runtime (`zoo.translation.BaseTranslator`):
compiled once per (beam size, shape bucket), padding that changes nothing,
and plot names. The search loops themselves are tested in
tests/test_generation.py."""

import types

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from zoo.data import END_ID
from zoo.translation import BaseTranslator
from zoo.translation import plot_slug
from zoo.translation import search

pytestmark = pytest.mark.tf_only

VOCAB = 40


class _Tokenizer:
    """Words to ids (their length + 3, so a sentence's ids are known)."""

    def tokenize(self, sentences):
        return tf.ragged.constant(
            [[len(w) + 3 for w in s.split()] for s in sentences], tf.int32
        )

    def detokenize(self, ids):
        return " ".join(str(int(i)) for i in ids if i not in (0, END_ID))


class _CopyTranslator(BaseTranslator):
    """Decodes a copy of the source, then END: padding rows or columns
    that leaked into a sentence's result would show. Counts its traces."""

    traces = 0

    def _build_decode(self, beam_size):
        def decode(source_ids):
            _CopyTranslator.traces += 1  # runs only while tracing

            def step(tokens, source, index):
                column = ops.take(source, index, axis=1)  # (N,)
                column = ops.where(column == 0, END_ID, column)
                return ops.one_hot(column, VOCAB) * 10.0, source

            # The state: the source, padded so every step has a column.
            source = tf.pad(source_ids, [[0, 0], [0, self.config.max_length]])
            batch = tf.shape(source_ids)[0]
            return search(
                step, source, batch, self.config.max_length, beam_size, 0.6,
                END_ID,
            )  # fmt: skip

        return decode


def _translator():
    config = types.SimpleNamespace(max_length=20, length_penalty=0.6)
    tokenizer = _Tokenizer()
    return _CopyTranslator(None, tokenizer, tokenizer, config)


def _sentence(words, seed):
    rng = np.random.default_rng(seed)
    return " ".join("x" * int(n) for n in rng.integers(1, 9, words))


def test_decoding_is_traced_once_per_beam_size_and_bucket():
    translator = _translator()
    _CopyTranslator.traces = 0
    # Batch sizes 1..9 (buckets 1, 8, 64) and lengths 1..12 (buckets 8,
    # 16): 2 beam sizes x 3 batch buckets x 2 length buckets at most.
    calls = [(rows, words) for rows in (1, 2, 5, 7, 9) for words in (3, 12)]
    calls += [(3, 6), (8, 11), (40, 2), (1, 16)]
    for beam in (1, 3):
        for i, (rows, words) in enumerate(calls):
            sentences = [
                _sentence(words - r % 2, i * 10 + r) for r in range(rows)
            ]
            texts = translator.translate(sentences, beam_size=beam)
            expected = [_Tokenizer().detokenize(
                _Tokenizer().tokenize([s])[0].numpy()) for s in sentences
            ]  # fmt: skip
            assert texts == expected
    keys = set(translator._compiled)
    assert keys == {
        (beam, batch, length)
        for beam in (1, 3)
        for batch in (1, 8, 64)
        for length in (8, 16)
    }
    assert _CopyTranslator.traces == len(keys) == 12  # 28 calls
    # Again, other sizes in the same buckets: nothing is traced.
    translator.translate([_sentence(5, 99)] * 6, beam_size=3)
    assert _CopyTranslator.traces == 12


def test_padding_to_a_bucket_changes_no_translation():
    translator = _translator()
    sentences = [_sentence(w, w) for w in (2, 9, 4)]
    together, scores = translator.translate_ids(sentences, beam_size=2)
    for i, sentence in enumerate(sentences):
        alone, alone_score = translator.translate_ids([sentence], 2)
        np.testing.assert_array_equal(alone[0], together[i])
        np.testing.assert_allclose(alone_score[0], scores[i], atol=1e-6)
    with pytest.raises(ValueError, match="beam_size=0"):
        translator.translate(sentences, beam_size=0)


def test_plot_names_are_safe_and_distinct():
    names = [
        plot_slug(s)
        for s in ("I like tea.", "I like tea!", "私はお茶が好き", "../../etc")
    ]
    assert names[0].startswith("i-like-tea-")
    assert len(set(names)) == 4
    assert all(n and set(n) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")
               for n in names)  # fmt: skip
    assert plot_slug("I like tea.") == names[0]  # stable across calls
