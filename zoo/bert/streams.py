"""BERT's tf.data streams: packing, dynamic masking, classification batches.

Packing (`pack`): tokenized sentences are concatenated in their fixed
order into sequences of at most `max_length` ids, `[CLS] A [SEP] B [SEP]`,
where A and B are runs of whole sentences (segment ids 0 and 1; a lone
sentence gives `[CLS] A [SEP]`), as BERT and RoBERTa pack text, so little
compute goes to padding. A sentence longer than a sequence is truncated.

Pretraining (`pretraining_stream`): an endless series of passes over the
packed sequences, each pass in its own order drawn statelessly from
`(seed, pass)`; batch i is masked with the stateless seed `(seed, i)`
(`zoo.bert.masking`). So batch i depends on `(seed, i)` alone, which the
harness's exact resume needs, and each epoch sees new masks. Validation
batches get fixed masks, so every evaluation scores the same predictions.

Classification (`classification_stream`, `classification_dataset`):
`[CLS] text [SEP]` rows batched by length. The text itself comes from
`zoo.data` (`pretraining_corpus`, `vader`).
"""

import math

import numpy as np
import tensorflow as tf

from zoo.bert.masking import mask_batch
from zoo.bert.tokenizer import CLS_ID
from zoo.bert.tokenizer import MASK_ID
from zoo.bert.tokenizer import PAD_ID
from zoo.bert.tokenizer import SEP_ID
from zoo.bert.tokenizer import SPECIAL_TOKENS
from zoo.bert.tokenizer import UNK_ID

VALIDATION_MASK_SEED = 12345


def pack(token_ids, max_length):
    """Packs tokenized sentences into `[CLS] A [SEP] B [SEP]` sequences.

    Args:
        token_ids: list of int lists (special tokens excluded), in order.
        max_length: T, length of every packed row.

    Returns:
        `(ids, segments)`: int32 arrays `(N, T)`, 0-padded.
    """
    budget = max_length - 3  # [CLS], [SEP], [SEP]
    groups, current, used = [], [], 0
    for ids in token_ids:
        ids = list(ids[:budget])
        if not ids:
            continue
        if current and used + len(ids) > budget:
            groups.append(current)
            current, used = [], 0
        current.append(ids)
        used += len(ids)
    if current:
        groups.append(current)
    rows = np.zeros((len(groups), max_length), np.int32)
    segments = np.zeros((len(groups), max_length), np.int32)
    for r, group in enumerate(groups):
        half = math.ceil(len(group) / 2)
        a = [i for s in group[:half] for i in s]
        b = [i for s in group[half:] for i in s]
        row = [CLS_ID, *a, SEP_ID] + ([*b, SEP_ID] if b else [])
        rows[r, : len(row)] = row
        segments[r, len(a) + 2 : len(row)] = 1
    return rows, segments


def mlm_masker(config, vocabulary_size):
    """`(token_ids (B, T), seed (2,)) -> masked batch` for `config`."""
    max_predictions = max_predictions_of(config)

    def apply(token_ids, seed):
        return mask_batch(
            token_ids,
            seed,
            vocabulary_size,
            MASK_ID,
            unselectable_ids=(PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID),
            max_predictions=max_predictions,
            selection_rate=config.mask_rate,
            first_random_id=len(SPECIAL_TOKENS),
        )

    return apply


def max_predictions_of(config):
    """P: the most masked positions a row can have (rate rounded up)."""
    return math.ceil(config.mask_rate * (config.max_length - 2))


def _to_example(masked, segment_ids):
    inputs = {
        "token_ids": masked["token_ids"],
        "segment_ids": segment_ids,
        "mask_positions": masked["mask_positions"],
    }
    return inputs, masked["mask_ids"], masked["mask_weights"]


def pretraining_stream(config, ids, segments, vocabulary_size, seed):
    """The endless, masked training stream and its steps per pass.

    Element i is `(inputs, mask_ids, mask_weights)` and depends only on
    `(seed, i)`: pass p shuffles the rows with the stateless seed
    `(seed, p)`; batch i is masked with the seed `(seed, i)`.
    """
    ids, segments = tf.constant(ids), tf.constant(segments)
    count = int(ids.shape[0])
    if count < config.batch_size:
        raise ValueError(
            f"Only {count} packed sequences, fewer than "
            f"batch_size={config.batch_size}."
        )
    seed = tf.constant(seed, tf.int64)

    def one_pass(number):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(count, dtype=tf.int64), tf.stack([seed, number])
        )
        return tf.data.Dataset.from_tensor_slices(order)

    masker = mlm_masker(config, vocabulary_size)

    def mask(index, rows):
        batch_ids = tf.gather(ids, rows)  # (B, T)
        masked = masker(batch_ids, tf.stack([seed, index]))
        return _to_example(masked, tf.gather(segments, rows))

    dataset = (
        tf.data.Dataset.counter()
        .flat_map(one_pass)
        .batch(config.batch_size, drop_remainder=True)
    )
    dataset = tf.data.Dataset.zip(tf.data.Dataset.counter(), dataset)
    dataset = dataset.map(mask, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE), count // config.batch_size


def pretraining_validation(config, ids, segments, vocabulary_size):
    """Finite validation batches with fixed masks (the same every call)."""
    masker = mlm_masker(config, vocabulary_size)

    def mask(index, batch):
        batch_ids, batch_segments = batch
        masked = masker(batch_ids, tf.stack([VALIDATION_MASK_SEED, index]))
        return _to_example(masked, batch_segments)

    dataset = tf.data.Dataset.from_tensor_slices((ids, segments))
    dataset = dataset.batch(config.batch_size)
    dataset = tf.data.Dataset.zip(tf.data.Dataset.counter(), dataset).map(mask)
    return dataset.cache().prefetch(tf.data.AUTOTUNE)


def encode_snippets(tokenizer, texts, max_length):
    """`[CLS] text [SEP]` ids per text, truncated to `max_length`: a list."""
    ragged = tokenizer.tokenize(list(texts))[:, : max_length - 2]
    return [[CLS_ID, *row, SEP_ID] for row in ragged.to_list()]


def _classification_dataset(rows, labels):
    ids = tf.ragged.constant(rows, dtype=tf.int32)
    labels = tf.constant(labels, tf.int32)
    return ids, labels


def _to_inputs(ids, label):
    return {"token_ids": ids, "segment_ids": tf.zeros_like(ids)}, label


PADDED_SHAPES = ({"token_ids": [None], "segment_ids": [None]}, [])


def classification_stream(rows, labels, batch_size, seed):
    """Endless shuffled `(inputs, labels)` batches and steps per epoch.

    Pass p is shuffled with the stateless seed `(seed, p)`, then rows of
    similar length are batched together (length buckets 8 ids wide,
    `Dataset.bucket_by_sequence_length`) and padded to the batch's longest
    row, which roughly halves the padding of the short snippets. No
    randomness beyond the shuffle, so element i depends on `(seed, i)`.
    """
    ids, labels = _classification_dataset(rows, labels)
    count = len(rows)
    seed = tf.constant(seed, tf.int64)

    def one_pass(number):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(count, dtype=tf.int64), tf.stack([seed, number])
        )
        return tf.data.Dataset.from_tensor_slices(order)

    dataset = (
        tf.data.Dataset.counter()
        .flat_map(one_pass)
        .map(lambda i: _to_inputs(tf.gather(ids, i), tf.gather(labels, i)))
    )
    longest = max(len(row) for row in rows)
    boundaries = list(range(16, longest + 1, 8))
    dataset = dataset.bucket_by_sequence_length(
        lambda inputs, label: tf.shape(inputs["token_ids"])[0],
        bucket_boundaries=boundaries,
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        padded_shapes=PADDED_SHAPES,
        drop_remainder=True,
    )
    return dataset.prefetch(tf.data.AUTOTUNE), max(1, count // batch_size)


def classification_dataset(rows, labels, batch_size):
    """Finite, ordered `(inputs, labels)` batches for evaluation."""
    ids, labels = _classification_dataset(rows, labels)
    dataset = tf.data.Dataset.from_tensor_slices((ids, labels)).map(_to_inputs)
    dataset = dataset.padded_batch(batch_size, padded_shapes=PADDED_SHAPES)
    return dataset.prefetch(tf.data.AUTOTUNE)
